"""A flaky Telegram during a real deploy, an MLflow outage during registration, and two retrains racing."""

from __future__ import annotations

import json

import pytest

from retrain.records import ledger
from retrain.registry import Registry
from retrain.settings import load_settings
from tests.helpers.telegram_server import Reply
from tests.integration.conftest import days
from tests.integration.conftest import runner as runner  # noqa: F401  (the fixture, for this folder)

pytestmark = pytest.mark.integration

WEEK = days("2025-12-01", 7)


def land(runner, timeline: list[str]) -> None:  # type: ignore[no-untyped-def]
    for ds in timeline:
        assert runner.run("generate_data", ds).ok


@pytest.fixture
def faults_env(monkeypatch: pytest.MonkeyPatch, telegram_server) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TG_TOKEN", "42:flaky-channel-token")
    monkeypatch.setenv("TG_CHAT", "7")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    monkeypatch.setenv("RETRAIN_NOTIFY_RETRIES", "2")
    monkeypatch.setenv("RETRAIN_NOTIFY_TIMEOUT", "0.5")
    monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": 30}')


@pytest.mark.parametrize(
    ("replies", "delivered", "attempts"),
    [
        pytest.param([Reply(500), Reply.too_many(1), Reply()], True, 3, id="500-then-429-then-ok"),
        pytest.param([Reply.slow(2.0), Reply()], True, 2, id="timeout-then-ok"),
        pytest.param([Reply(500), Reply(500), Reply(500)], False, 3, id="down-for-good"),
    ],
)
def test_a_flaky_channel_is_retried_and_never_undoes_the_deploy(  # type: ignore[no-untyped-def]
    runner, telegram_server, faults_env, replies, delivered, attempts
) -> None:
    # given: a week of data and a Telegram endpoint scripted to misbehave
    land(runner, WEEK)
    telegram_server.respond(*replies)

    # when: the first retrain deploys
    result = runner.run("retrain", WEEK[-1])

    # then: the deploy stands and the notify task succeeded whatever the channel did
    assert result.ok, result.tasks
    assert result.tasks["notify_success"] == "success"
    settings = load_settings()
    assert Registry.from_settings(settings).champion().version == "1"
    sent = [r for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert len(sent) == attempts
    (record,) = [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]
    (channel,) = record["channels"]
    assert channel["channel"] == "telegram"
    assert channel["ok"] is delivered
    assert channel["attempts"] == attempts
    if not delivered:
        assert "500" in channel["error"]
    assert "flaky-channel-token" not in settings.outbox_path.read_text()


def test_429_waits_as_long_as_the_bot_api_asks(runner, telegram_server, faults_env) -> None:  # type: ignore[no-untyped-def]
    land(runner, WEEK)
    telegram_server.respond(Reply.too_many(2), Reply())

    assert runner.run("retrain", WEEK[-1]).ok

    first, second = [r for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert second.received_at - first.received_at >= 1.9


def test_a_registry_outage_is_retried_and_leaves_no_half_state(  # type: ignore[no-untyped-def]
    retrain_env, airflow_home, monkeypatch, faults_env
) -> None:
    # given: the registry store fails to create model versions twice (after the registered model exists)
    from mlflow.exceptions import MlflowException
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.setenv("RETRAIN_TASK_RETRIES", "2")
    monkeypatch.setenv("RETRAIN_RETRY_DELAY", "0")
    from retrain.airflow.runner import DagRunner
    from tests.conftest import DAGS_FOLDER

    runner = DagRunner(DAGS_FOLDER, airflow_home)  # parsed now: with the retries set above
    land(runner, WEEK)
    original = SqlAlchemyStore.create_model_version
    failures: list[int] = []

    def unavailable(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(failures) < 2:
            failures.append(1)
            raise MlflowException("(psycopg2.OperationalError) could not connect to server: Connection refused")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SqlAlchemyStore, "create_model_version", unavailable)

    # when
    result = runner.run("retrain", WEEK[-1])

    # then: deploy_model failed twice, succeeded on its third try; one version, champion, one ledger entry
    assert result.ok, result.tasks
    assert len(failures) == 2
    settings = load_settings()
    registry = Registry.from_settings(settings)
    assert [v["version"] for v in registry.versions()] == ["1"]
    assert registry.champion().version == "1"
    deploys = [e for e in ledger.read(settings.ledger_path) if e["decision"] == "deploy"]
    assert len(deploys) == 1


def test_two_retrains_racing_to_promote_leave_one_champion(runner, telegram_server, faults_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: champion v1 from a calm week, then drift, so any later challenger beats v1
    monkeypatch.setenv("RETRAIN_DRIFT_START", "2025-12-08")
    monkeypatch.setenv("RETRAIN_DRIFT_STRENGTH", "3")
    timeline = days("2025-12-01", 14)
    land(runner, timeline)
    assert runner.run("retrain", timeline[6]).ok
    # and: run B (day 13) has prepared against champion v1 ... while run A (day 14) deploys v2
    from retrain.airflow.retrain_tasks import prepare_data

    prepare_data(timeline[12])
    a = runner.run("retrain", timeline[13])
    assert a.ok, a.tasks
    settings = load_settings()
    registry = Registry.from_settings(settings)
    assert registry.champion().version == "2"
    alerts_before = len(telegram_server.requests)

    # when: B reaches its deploy, comparing with v1, which is no longer champion
    b = runner.run("retrain", timeline[12])

    # then: B is refused by compare-and-swap, the champion stays A's, both are recorded, one alert
    assert b.tasks["deploy_model"] == "failed"
    assert registry.champion().version == "2"
    entries = [e for e in ledger.read(settings.ledger_path) if e["decision"] in ("deploy", "skip")]
    assert [(e["ds"], e["decision"]) for e in entries] == [
        (timeline[6], "deploy"),
        (timeline[13], "deploy"),
        (timeline[12], "skip"),
    ]
    assert any("deploy refused" in reason for reason in entries[-1]["reasons"])
    alerts = [r.json["text"] for r in telegram_server.requests[alerts_before:]]
    assert len(alerts) == 1
    assert "deploy_model" in alerts[0]


def test_a_bad_raw_day_in_the_window_stops_retrain_at_once(
    retrain_env,
    airflow_home,
    monkeypatch,
    faults_env,  # type: ignore[no-untyped-def]
    telegram_server,
) -> None:
    # given: retries allowed, a champion, and then a raw day inside the next window gets corrupted
    monkeypatch.setenv("RETRAIN_TASK_RETRIES", "2")
    monkeypatch.setenv("RETRAIN_RETRY_DELAY", "0")
    from retrain.airflow.runner import DagRunner
    from retrain.layout import Layout
    from tests.conftest import DAGS_FOLDER

    runner = DagRunner(DAGS_FOLDER, airflow_home)
    timeline = days("2025-12-01", 9)
    land(runner, timeline)
    assert runner.run("retrain", timeline[6]).ok
    layout = Layout(load_settings().data_dir)
    bad = layout.raw_data(timeline[7])
    lines = bad.read_text().splitlines()
    lines[5] = "oops" + lines[5][lines[5].index(",") :]
    bad.write_text("\n".join(lines) + "\n")
    alerts_before = len(telegram_server.requests)

    # when
    result = runner.run("retrain", timeline[8])

    # then: validate_data failed on its first try naming file, column and row; nothing downstream ran
    assert result.tasks["validate_data"] == "failed"
    assert result.tasks["train_model"] == "upstream_failed"
    assert Registry.from_settings(load_settings()).champion().version == "1"
    alerts = [r.json["text"] for r in telegram_server.requests[alerts_before:]]
    assert len(alerts) == 1
    assert "try=1" in alerts[0]
    assert "data.csv" in alerts[0]
    assert "f00" in alerts[0]
    assert layout.quarantine(timeline[7]).is_dir()
