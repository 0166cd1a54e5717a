"""Small helpers that read what a task needs from the Airflow context and the settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from retrain.layout import Layout
from retrain.settings import Settings, load_settings

TRIGGERS = ("schedule", "drift", "manual")


def settings_and_layout() -> tuple[Settings, Layout]:
    settings = load_settings()
    return settings, Layout(settings.data_dir)


def trigger_of(dag_run: Any) -> str:
    """Why this run exists: `conf["trigger"]` when given, else the run type (scheduled, asset, manual)."""
    conf = getattr(dag_run, "conf", None) or {}
    trigger = conf.get("trigger")
    if trigger in TRIGGERS:
        return str(trigger)
    run_type = str(getattr(dag_run, "run_type", "") or "")
    if "scheduled" in run_type:
        return "schedule"
    if "asset" in run_type:
        return "drift"
    return "manual"


@contextlib.contextmanager
def fail_fast_on_bad_input() -> Iterator[None]:
    """Bad data cannot be fixed by a retry: fail the task at once, with the validator's message."""
    from retrain.data.validate import DataValidationError

    try:
        yield
    except DataValidationError as exc:
        raise AirflowFailException(str(exc)) from exc
