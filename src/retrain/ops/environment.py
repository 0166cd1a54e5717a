"""Which environment variables configure retrain, MLflow and Airflow: the one place that says so.

A process that `retrain up`, the local topology or a test starts gets exactly the configuration it is
given: `clean_environ()` removes everything of ours from the caller's environment first, and
`retrain up` passes its services the caller's own settings back with `own_settings()`. The names of
retrain's settings come from `retrain.settings.env_names()` (derived from the settings' fields).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from retrain.settings import env_names

SETTINGS_PREFIXES = ("RETRAIN_", "MLFLOW_")
"""retrain's settings (an unknown `RETRAIN_*` name too: `load_settings` refuses it, so it must travel)
and MLflow's own client settings (`MLFLOW_TRACKING_USERNAME`, ...)."""

AIRFLOW_PREFIX = "AIRFLOW__"
"""Airflow's configuration options (`AIRFLOW__SECTION__KEY`)."""

AIRFLOW_NAMES = ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
"""Where Airflow finds its home and its airflow.cfg."""


def is_setting(name: str) -> bool:
    """True for a variable retrain or MLflow reads as a setting (`RETRAIN_*`, `MLFLOW_*`, the seed names)."""
    return name.startswith(SETTINGS_PREFIXES) or name in env_names()


def is_airflow(name: str) -> bool:
    """True for a variable Airflow reads as configuration (`AIRFLOW__*`, `AIRFLOW_HOME`, `AIRFLOW_CONFIG`)."""
    return name.startswith(AIRFLOW_PREFIX) or name in AIRFLOW_NAMES


def own_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's retrain, MLflow and Airflow options (`AIRFLOW__*`), without AIRFLOW_HOME/AIRFLOW_CONFIG:
    what a service started for this project must see as the caller does; its home is set by the starter."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if is_setting(k) or k.startswith(AIRFLOW_PREFIX)}


def clean_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any retrain, MLflow or Airflow setting, and with this
    environment's bin/ first on PATH (so `airflow` and `mlflow` are the ones of this installation).

    Args:
        base: The environment to clean; `os.environ` when None.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if not (is_setting(k) or is_airflow(k))}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env
