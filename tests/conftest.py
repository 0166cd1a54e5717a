"""Shared fixtures: every test gets its own RETRAIN_HOME (data, MLflow store, ledger) in tmp_path."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from retrain.ops.environment import is_setting
from retrain.settings import Settings, load_settings
from tests.helpers.telegram_server import telegram_server  # noqa: F401  (a fixture for every test module)

# Airflow reads its configuration once, when first imported: give the whole session its own
# AIRFLOW_HOME (SQLite metadata DB, this project's dags/) before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="retrain-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"


def _write_airflow_cfg() -> None:
    """Written before anything can import Airflow: on import, Airflow would write its own default
    airflow.cfg (dags_folder = $AIRFLOW_HOME/dags) and every dag.test() would then look there."""
    from retrain.ops.home import airflow_cfg

    (_AIRFLOW_HOME / "airflow.cfg").write_text(airflow_cfg(DAGS_FOLDER), encoding="utf-8")


_write_airflow_cfg()


@pytest.fixture
def retrain_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment for retrain: nothing from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if is_setting(key):
            monkeypatch.delenv(key, raising=False)
    env = {
        "RETRAIN_HOME": str(tmp_path / "home"),
        "RETRAIN_ROWS_PER_DAY": "400",
        "RETRAIN_TASK_RETRIES": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def settings(retrain_env: dict[str, str]) -> Settings:
    return load_settings()


def clear_airflow_runs() -> None:
    """Forget every DAG run, asset event and queued asset-triggered run of the session's Airflow DB.

    The session shares one metadata DB: without this, a run another test made on the same date (Airflow
    keeps one run per DAG and logical date) would change what a later test sees (a skipped trigger, a
    queued run counted twice). Task instances and XComs go with their runs (foreign keys cascade).
    Does nothing before the first DAG run of the session (the unit tests never import Airflow).
    """
    if "airflow.models.dagrun" not in sys.modules or not any(_AIRFLOW_HOME.glob(".retrain-db-migrated-*")):
        return  # no DAG has run in this process yet: the DB may not even be created
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetPartitionDagRun
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        for model in (AssetPartitionDagRun, AssetDagRunQueue, AssetEvent, DagRun):
            session.execute(delete(model))


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's Airflow home: this project's airflow.cfg (written at import, above) and SQLite DB."""
    return _AIRFLOW_HOME
