"""Shared DAG defaults: one place for start date, retries and the failure alert of every DAG."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from retrain.airflow.notifier import FailureAlertNotifier
from retrain.quiet import silence_unless_asked
from retrain.settings import load_settings

START_DATE = pendulum.datetime(2000, 1, 1, tz="UTC")
"""Early enough for any user's history (a run dated before a DAG's start date has no task to run, which
`DagRunner.run` reports as a failure); `catchup=False` keeps the scheduler from replaying the years."""


def default_args() -> dict[str, Any]:
    """Retries with backoff, and one alert per task once its retries are exhausted.

    `on_failure_callback` fires only after the last try (retries go to `on_retry_callback`, which we
    leave unset), so a flaky task that recovers alerts nobody and a failed one alerts exactly once.
    """
    from retrain.airflow.context import mask_secrets

    settings = mask_secrets(load_settings())  # parsing the DAG is the first thing a task process does
    return {
        "owner": "retrain",
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": FailureAlertNotifier(),
        "on_execute_callback": quiet_task,
    }


def quiet_task(context: Any) -> None:  # noqa: ARG001  # Airflow passes the task's context
    """Before every task, in the process that runs it: silence `retrain.quiet`'s known-harmless warnings.

    Here and not only when `retrain.airflow` is imported: Airflow parses a DAG file inside
    `warnings.catch_warnings()`, which drops every filter set while parsing, and a task process (a
    worker's, plain `airflow dags test`) parses its DAG file first. `PYTHONWARNINGS`, `python -W` and
    `retrain run --verbose` keep every warning.
    """
    silence_unless_asked()


def dag_kwargs(*, tags: list[str]) -> dict[str, Any]:
    """Keyword arguments every retrain DAG shares."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "default_args": default_args(),
        "tags": ["retrain", *tags],
    }


def wait_for(task_id: str, part: str) -> Any:
    """The `wait_for_*` task of a DAG: waits for the run's day's features or labels in the triggerer.

    Deferrable (no worker slot while waiting; `mode="reschedule"` if it is ever run not deferred),
    `RETRAIN_WAIT_POKE_INTERVAL` between looks, `RETRAIN_WAIT_TIMEOUT` in all, no retries (a timeout or
    a quarantined day is final for this run).
    """
    from retrain.airflow.assets import RUN_DAY
    from retrain.airflow.sensors import DayLandedSensor

    settings = load_settings()
    return DayLandedSensor(
        task_id=task_id,
        ds=RUN_DAY,
        part=part,  # type: ignore[arg-type]
        mode="reschedule",
        poke_interval=settings.wait_poke_interval,
        timeout=settings.wait_timeout,
        retries=0,
    )


def trigger_retrain(cause: str) -> Any:
    """The `trigger_retrain` task of a monitor: a `retrain` run for the run's day, conf `trigger=cause`.

    One run per cause and day (run id `{cause}__{day}`); a run that already exists for that id or day
    (the weekly one, another monitor's) is not started twice: the task ends `skipped`.
    """
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from retrain.airflow.assets import RUN_DAY

    return TriggerDagRunOperator(
        task_id="trigger_retrain",
        trigger_dag_id="retrain",
        trigger_run_id=f"{cause}__{RUN_DAY}",
        logical_date=RUN_DAY,
        conf={"trigger": cause},
        skip_when_already_exists=True,
    )
