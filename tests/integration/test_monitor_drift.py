"""monitor_drift for real: sustained drift records statistics, alerts once and triggers a retrain run."""

from __future__ import annotations

import pytest

from retrain.records import ledger
from retrain.settings import load_settings
from tests.integration.conftest import days

pytestmark = pytest.mark.integration


def test_sustained_drift_alerts_once_and_starts_a_retrain(runner, telegram_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: a champion trained on a calm week, then a strong drift from day 8 on
    monkeypatch.setenv("RETRAIN_ROWS_PER_DAY", "800")
    monkeypatch.setenv("RETRAIN_DRIFT_START", "2026-02-08")
    monkeypatch.setenv("RETRAIN_DRIFT_STRENGTH", "4")
    monkeypatch.setenv("RETRAIN_DRIFT_CONSECUTIVE_DAYS", "2")
    monkeypatch.setenv("TG_TOKEN", "1:t")
    monkeypatch.setenv("TG_CHAT", "9")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    timeline = days("2026-02-01", 10)  # dates no other integration test runs: they share one Airflow DB
    for ds in timeline:
        assert runner.run("generate_data", ds).ok
    assert runner.run("retrain", timeline[6]).ok
    sent_before = len(telegram_server.requests)

    # when: a calm day, then two drifted days are monitored
    calm = runner.run("monitor_drift", timeline[6])
    first = runner.run("monitor_drift", timeline[8])
    second = runner.run("monitor_drift", timeline[9])

    # then: the calm day and the first drifted day only record; the second (2 in a row) alerts + triggers
    assert calm.ok and first.ok and second.ok, (calm.tasks, first.tasks, second.tasks)
    assert calm.tasks["no_drift"] == "success"
    assert first.tasks["no_drift"] == "success"
    assert second.tasks["alert_drift"] == "success"
    assert second.tasks["trigger_retrain"] == "success"
    entries = {e["ds"]: e for e in ledger.read(load_settings().ledger_path) if e["decision"] == "drift"}
    assert entries[timeline[6]]["drifted"] is False
    assert entries[timeline[8]]["drifted"] is True
    assert entries[timeline[8]]["triggered_retrain"] is False
    assert entries[timeline[9]]["triggered_retrain"] is True
    assert {"psi", "ks"} <= set(entries[timeline[9]]["features"][0])
    alerts = [r.json["text"] for r in telegram_server.requests[sent_before:]]
    assert len(alerts) == 1
    assert alerts[0].startswith("DRIFT")

    # and: the retrain run exists in Airflow, queued with trigger=drift, and runs as a drift retrain
    queued = [run for run in runner.queued_runs("retrain") if run[0] in timeline]  # other tests' runs share the DB
    assert queued == [(timeline[9], {"trigger": "drift"})]
    retrained = runner.run("retrain", *queued[0])
    assert retrained.ok, retrained.tasks
    history = [h for h in ledger.read(load_settings().ledger_path) if h["decision"] in ("deploy", "skip")]
    assert (history[-1]["ds"], history[-1]["trigger"]) == (timeline[9], "drift")

    # and: the next day, still drifted, is inside the cooldown: no second alert, no second run
    assert runner.run("generate_data", "2026-02-11").ok
    cooled = runner.run("monitor_drift", "2026-02-11")
    assert cooled.tasks["no_drift"] == "success"
    assert [run for run in runner.queued_runs("retrain") if run[0] in [*timeline, "2026-02-11"]] == []
