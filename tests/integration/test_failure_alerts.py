"""A task that keeps failing alerts exactly once, after its retries, with dag, task, date and error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_failed_task_sends_one_alert_after_its_retries(
    retrain_env, airflow_home, telegram_server, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # given: one retry, a source folder that lacks the day (a transient-looking error: retried), Telegram on
    monkeypatch.setenv("RETRAIN_TASK_RETRIES", "1")
    monkeypatch.setenv("RETRAIN_RETRY_DELAY", "0")
    monkeypatch.setenv("RETRAIN_SOURCE", str(tmp_path / "empty-source"))
    (tmp_path / "empty-source").mkdir()
    monkeypatch.setenv("TG_TOKEN", "999:alert-token")
    monkeypatch.setenv("TG_CHAT", "77")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    from retrain.airflow.runner import DagRunner
    from tests.conftest import DAGS_FOLDER

    runner = DagRunner(DAGS_FOLDER, airflow_home)

    # when
    result = runner.run("generate_data", "2025-12-05")

    # then: the run failed, and exactly one alert went out, naming dag, task, date, try and the error
    assert not result.ok
    assert result.tasks["generate"] == "failed"
    alerts = [r for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert len(alerts) == 1, [a.json["text"] for a in alerts]
    text = alerts[0].json["text"]
    assert str(alerts[0].json["chat_id"]) == "77"
    for expected in ("dag=generate_data", "task=generate", "2025-12-05", "try=2", "empty-source/2025-12-05"):
        assert expected in text, f"{expected!r} missing from alert:\n{text}"
    assert "alert-token" not in text


def test_bad_data_fails_at_once_without_retries(
    retrain_env, airflow_home, telegram_server, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # given: retries allowed, and a source day whose data has a non-numeric value
    monkeypatch.setenv("RETRAIN_TASK_RETRIES", "2")
    monkeypatch.setenv("RETRAIN_RETRY_DELAY", "0")
    day = tmp_path / "source" / "2025-12-05"
    day.mkdir(parents=True)
    (day / "data.csv").write_text("f00,f01\n0.1,0.2\n0.3,oops\n")
    (day / "target.csv").write_text("target\n0\n1\n")
    monkeypatch.setenv("RETRAIN_SOURCE", str(tmp_path / "source"))
    monkeypatch.setenv("TG_TOKEN", "999:alert-token")
    monkeypatch.setenv("TG_CHAT", "77")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    from retrain.airflow.runner import DagRunner
    from retrain.layout import Layout
    from retrain.settings import load_settings
    from tests.conftest import DAGS_FOLDER

    # when
    result = DagRunner(DAGS_FOLDER, airflow_home).run("generate_data", "2025-12-05")

    # then: failed on the first try, one alert naming the file, column and row; nothing landed
    assert result.tasks["generate"] == "failed"
    alerts = [r.json["text"] for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert len(alerts) == 1
    assert "try=1" in alerts[0]
    assert "data.csv" in alerts[0]
    assert "f01" in alerts[0]
    assert not Layout(load_settings().data_dir).raw("2025-12-05").exists()
