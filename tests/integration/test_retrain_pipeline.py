"""The spine, for real: generate_data for several days, then retrain twice through Airflow."""

from __future__ import annotations

import json

import pytest

from retrain.layout import Layout
from retrain.settings import load_settings
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

TOKEN = "123456:SECRET-test-token-never-logged"
CHAT = "4242"


def test_first_retrain_deploys_then_a_high_threshold_skips(runner, telegram_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: a week of data whose labels land a day late, and a Telegram stand-in on 127.0.0.1
    monkeypatch.setenv("RETRAIN_ROWS_PER_DAY", "1500")
    monkeypatch.setenv("RETRAIN_LABEL_DELAY_DAYS", "1")
    monkeypatch.setenv("TG_TOKEN", TOKEN)
    monkeypatch.setenv("TG_CHAT", CHAT)
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    monkeypatch.setenv("MODEL_VERSION", "v-test")
    timeline = days("2025-12-01", 8)
    for ds in timeline[:7]:
        assert runner.run("generate_data", ds).ok
    settings = load_settings()
    layout = Layout(settings.data_dir)

    # when: the first retrain runs (no champion yet)
    first = runner.run("retrain", timeline[6], {"trigger": "schedule"})

    # then: it deployed version 1, moved the alias, wrote the card and sent exactly one message
    assert first.ok, first.tasks
    assert first.tasks["deploy_model"] == "success"
    assert first.tasks["notify_success"] == "success"
    assert first.tasks["skip_deploy"] == "skipped"
    assert first.tasks["end"] == "success"
    order = list(first.tasks)  # the summary's order: upstream tasks first
    assert order[0] == "wait_for_data" and order[-1] == "end"
    assert order.index("prepare_data") < order.index("train_model") < order.index("evaluate_model")
    from retrain.registry import Registry

    registry = Registry.from_settings(settings)
    champion = registry.champion()
    assert champion is not None and champion.version == "1"
    card = layout.models(timeline[6])
    assert json.loads((card / "model.json").read_text())["version"] == "1"
    decision = json.loads((card / "decision.json").read_text())
    assert decision["deploy"] is True and decision["champion_score"] is None
    assert {"metrics.json", "params.json", "window.json"} <= {p.name for p in card.iterdir()}
    report = layout.report_file(timeline[6]).read_text()
    assert report.count("<svg") >= 3
    assert "no champion yet" in report
    artifacts = registry.client.list_artifacts(champion.run_id, "report")
    assert [a.path for a in artifacts] == ["report/report.html"]
    sent = [r for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert len(sent) == 1
    assert sent[0].token == TOKEN
    assert str(sent[0].json["chat_id"]) == CHAT
    text = sent[0].json["text"]
    assert "version 1" in text and "v-test" in text and "deploy_status=success" in text
    assert f"threshold={settings.metric_threshold:.4f}" in text

    # when: the labels of its own day land (the next day), and the same date is run again (by mistake)
    files = _retrain_files(layout, timeline[6])
    assert json.loads((card / "window.json").read_text())["end"] == timeline[5]
    assert runner.run("generate_data", timeline[7]).ok and layout.raw_target(timeline[6]).is_file()
    again = runner.run("retrain", timeline[6], {"trigger": "schedule"})

    # then: same pin, decision and version, identical files, no second message, no second history entry
    assert again.ok, again.tasks
    assert again.tasks["deploy_model"] == "success" and again.tasks["skip_deploy"] == "skipped"
    assert _retrain_files(layout, timeline[6]) == files
    assert registry.champion().version == "1"
    assert [v["version"] for v in registry.versions()] == ["1"]
    assert len([r for r in telegram_server.requests if r.api_method == "sendMessage"]) == 1

    # when: the same date is run again with other estimator parameters (its card would come out different)
    before, ledger_rows, runs = _data_files(layout), settings.ledger_path.read_bytes(), _mlflow_runs(registry)
    monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": 50}')
    changed = runner.run("retrain", timeline[6], {"trigger": "schedule"})
    monkeypatch.delenv("RETRAIN_ESTIMATOR_PARAMS")

    # then: prepare_data failed at once (a conflict: no retry) saying what differs, and nothing ran after it
    assert not changed.ok
    assert changed.tasks["prepare_data"] == "failed" and changed.tasks["train_model"] == "upstream_failed"
    error = str(changed.errors["prepare_data"])
    assert f"{timeline[6]} was already decided (deploy" in error
    assert 'RETRAIN_ESTIMATOR_PARAMS: recorded {}, now {"max_iter": 50}' in error
    # and no file under the data folder was written (not even with the same bytes), no ledger row, no MLflow run
    assert _data_files(layout) == before and settings.ledger_path.read_bytes() == ledger_rows
    assert _mlflow_runs(registry) == runs and [v["version"] for v in registry.versions()] == ["1"]
    # and the one failure alert names the task, its first try and the conflict
    alert = [r for r in telegram_server.requests if r.api_method == "sendMessage"][-1].json["text"]
    assert "task=prepare_data" in alert and "try=1" in alert and "RETRAIN_ESTIMATOR_PARAMS" in alert
    sent = 2  # the deploy message and that alert

    # when: a later retrain runs under a threshold nobody can reach
    monkeypatch.setenv("RETRAIN_METRIC_THRESHOLD", "0.999")
    second = runner.run("retrain", timeline[7], {"trigger": "manual"})

    # then: it skipped, the champion stayed, no message went out, and the history shows both
    assert second.ok, second.tasks
    assert second.tasks["skip_deploy"] == "success"
    assert second.tasks["deploy_model"] == "skipped"
    assert second.tasks["notify_success"] == "skipped"
    assert registry.champion().version == "1"
    assert len([r for r in telegram_server.requests if r.api_method == "sendMessage"]) == sent
    assert "0.9990" in layout.report_file(timeline[7]).read_text()  # the unreachable threshold, in the reasons
    skip = json.loads((layout.models(timeline[7]) / "decision.json").read_text())
    assert skip["deploy"] is False
    assert skip["champion_score"] is not None, "the champion must be re-scored on the same holdout"
    from retrain.records.status import build_status

    status = build_status(load_settings())
    assert [h["decision"] for h in status["history"]] == ["deploy", "skip"]
    assert [h["trigger"] for h in status["history"]] == ["schedule", "manual"]
    assert status["champion"]["version"] == "1"
    assert status["champion"]["label"] == "v-test"


def _retrain_files(layout: Layout, ds: str) -> dict[str, bytes]:
    """The model card, the split and its pin, the holdout scores and the report of the retrain of `ds`."""
    folders = (layout.models(ds), layout.processed(ds), layout.report_file(ds).parent)
    return {str(f): f.read_bytes() for folder in folders for f in sorted(folder.iterdir())}


def _data_files(layout: Layout) -> dict[str, tuple[bytes, int]]:
    """Every file under the data folder: its bytes and when it was last written."""
    files = sorted(p for p in layout.root.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def _mlflow_runs(registry) -> int:  # type: ignore[no-untyped-def]
    client = registry.client
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


def test_retrain_without_data_fails_at_the_sensor(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.run("retrain", "2025-12-07")
    assert not result.ok
    assert result.tasks["wait_for_data"] == "failed"
    assert result.tasks["train_model"] == "upstream_failed"


def test_rerunning_a_day_writes_identical_files(runner) -> None:  # type: ignore[no-untyped-def]
    layout = Layout(load_settings().data_dir)
    assert runner.run("generate_data", "2025-12-03").ok
    first = layout.raw_data("2025-12-03").read_bytes(), layout.raw_target("2025-12-03").read_bytes()
    assert runner.run("generate_data", "2025-12-03").ok
    assert (layout.raw_data("2025-12-03").read_bytes(), layout.raw_target("2025-12-03").read_bytes()) == first


def test_a_users_history_lands_and_a_date_before_the_dags_start_fails_saying_so(runner) -> None:  # type: ignore[no-untyped-def]
    # given: days of an older history (before the project was written), and one before the DAGs' start date
    layout = Layout(load_settings().data_dir)
    # when / then: a 2024 day lands like any other
    assert runner.run("generate_data", "2024-03-01").ok
    assert layout.raw_data("2024-03-01").is_file()
    # and a day before 2000-01-01 is a failure that says why, not a "success" in which nothing ran
    before = runner.run("generate_data", "1999-12-31")
    assert not before.ok and before.tasks == {}
    assert "before the DAG's start date 2000-01-01" in (before.error or "")
    assert not layout.raw("1999-12-31").exists()
