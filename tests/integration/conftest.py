"""Integration fixtures: real Airflow runs (dag.test) against a private RETRAIN_HOME and MLflow store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER, clear_airflow_runs

pytestmark = pytest.mark.integration


def days(start: str, n: int) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


@pytest.fixture(autouse=True)
def fresh_airflow_runs() -> None:
    """Each test starts with no DAG run in the session's Airflow DB (see `clear_airflow_runs`)."""
    clear_airflow_runs()


@pytest.fixture
def runner(retrain_env: dict[str, str], airflow_home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A DagRunner whose DAGs were parsed with this test's environment (retries, sensor timeouts)."""
    monkeypatch.setenv("RETRAIN_WAIT_TIMEOUT", "2")
    monkeypatch.setenv("RETRAIN_WAIT_POKE_INTERVAL", "1")
    from retrain.airflow.runner import DagRunner

    return DagRunner(DAGS_FOLDER, airflow_home)


def champion_and_a_spare_version(runner, monkeypatch: pytest.MonkeyPatch, timeline: list[str]) -> str:  # type: ignore[no-untyped-def]
    """Land `timeline`, deploy v1 on its 7th day, and register a second version (v2) that is NOT champion.

    v2 comes from the 8th day's challenger, skipped under an unreachable threshold; returns its version.
    """
    from retrain.records import ledger
    from retrain.registry import Registry
    from retrain.settings import load_settings

    for ds in timeline:
        assert runner.run("generate_data", ds).ok
    assert runner.run("retrain", timeline[6]).ok
    monkeypatch.setenv("RETRAIN_METRIC_THRESHOLD", "0.999")
    assert runner.run("retrain", timeline[7]).ok
    monkeypatch.delenv("RETRAIN_METRIC_THRESHOLD")
    settings = load_settings()
    skipped_run = ledger.find(settings.ledger_path, ds=timeline[7], decision="skip")["run_id"]
    return Registry.from_settings(settings).register(skipped_run, ds=timeline[7])
