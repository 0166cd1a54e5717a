"""Integration fixtures: real Airflow runs (dag.test) against a private RETRAIN_HOME and MLflow store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER

pytestmark = pytest.mark.integration


def days(start: str, n: int) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


@pytest.fixture
def runner(retrain_env: dict[str, str], airflow_home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A DagRunner whose DAGs were parsed with this test's environment (retries, sensor timeouts)."""
    monkeypatch.setenv("RETRAIN_WAIT_TIMEOUT", "2")
    monkeypatch.setenv("RETRAIN_WAIT_POKE_INTERVAL", "1")
    from retrain.airflow.runner import DagRunner

    return DagRunner(DAGS_FOLDER, airflow_home)
