"""Shared fixtures: every test gets its own RETRAIN_HOME (data, MLflow store, ledger) in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrain.settings import Settings, load_settings

_OWN_ENV_PREFIXES = ("RETRAIN_", "TG_", "MLFLOW_", "AIRFLOW_", "AIRFLOW__")
_OWN_ENV_NAMES = ("METRIC_THRESHOLD", "MODEL_VERSION")


@pytest.fixture
def retrain_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment for retrain: nothing from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith(_OWN_ENV_PREFIXES) or key in _OWN_ENV_NAMES:
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
