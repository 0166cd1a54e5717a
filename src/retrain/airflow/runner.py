"""Run a DAG for one logical date through Airflow, in this process (`dag.test()`).

One process can run many DAG runs: Airflow, pandas, scikit-learn and MLflow are imported once, which
is what makes a five-week simulated timeline take a minute or two instead of tens of minutes.
Call `retrain.ops.home.prepare_airflow_home` before importing this module.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

if not os.environ.get("AIRFLOW_HOME"):  # Airflow would silently fall back to ~/airflow
    raise RuntimeError("call retrain.ops.home.prepare_airflow_home(settings) before importing the runner")

import airflow  # noqa: E402
from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.sdk import DAG  # noqa: E402

from retrain.errors import ConflictError  # noqa: E402
from retrain.io import file_lock  # noqa: E402
from retrain.ops.signals import Stopped, stop_on_signals  # noqa: E402

_MIGRATED = ".retrain-db-migrated-"


class RunInProgressError(ConflictError):
    """A run of the same DAG and logical date is already in progress in this home; nothing was started."""

    def __init__(self, dag_id: str, ds: str, by: str) -> None:
        super().__init__(
            f"a run of DAG {dag_id!r} for {ds} is already in progress ({by}); wait for it to end "
            f"(`retrain status`), then run `retrain run {dag_id} --date {ds}` again if still needed"
        )


@dataclass(frozen=True)
class RunResult:
    dag_id: str
    ds: str
    state: str
    seconds: float
    tasks: dict[str, str] = field(default_factory=dict)

    error: str | None = None
    """Why the run could not start or finish outside a task (e.g. a run of that day in progress elsewhere)."""

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def failed_tasks(self) -> list[str]:
        return sorted(k for k, v in self.tasks.items() if v in ("failed", "upstream_failed"))


def ensure_database(airflow_home: Path) -> None:
    """Create or migrate Airflow's metadata database once per Airflow version."""
    marker = airflow_home / f"{_MIGRATED}{airflow.__version__}"
    if marker.exists():
        return
    from airflow.utils import db

    with file_lock(airflow_home / "locks" / "migrate.lock"):  # two first commands at once migrate once
        if not marker.exists():
            db.upgradedb()
            marker.touch()


def redact_console_logs() -> None:
    """Mask secrets in what `dag.test()` prints: task logs and the tracebacks of failed tasks.

    A deployed task sends its logs to a supervisor that applies Airflow's secrets masker (fed by
    `context.mask_secrets`); `dag.test()` runs tasks in this process and prints them itself, unmasked,
    so the same secrets (and any URL password) are masked here, in structlog's chain and in stdlib's
    handlers. Idempotent.
    """
    import logging
    import sys

    import structlog

    from retrain.airflow.context import masked_secrets
    from retrain.secrets import RedactingFilter, redact, redact_exception

    def redact_event(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        secrets = masked_secrets()
        exc_info = event.get("exc_info")
        if isinstance(exc_info, BaseException):
            redact_exception(exc_info, secrets)
        elif isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
            redact_exception(exc_info[1], secrets)
        elif exc_info and sys.exc_info()[1] is not None:
            redact_exception(sys.exc_info()[1], secrets)  # type: ignore[arg-type]
        return {k: redact(v, secrets) if isinstance(v, str) else v for k, v in event.items()}

    class LiveRedactingFilter(RedactingFilter):
        def filter(self, record: logging.LogRecord) -> bool:
            self.secrets = masked_secrets()
            return super().filter(record)

    processors = structlog.get_config()["processors"]
    if not any(getattr(p, "__name__", "") == "redact_event" for p in processors):
        processors.insert(max(0, len(processors) - 1), redact_event)  # before the renderer
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(LiveRedactingFilter(()))


def _fail_unfinished(dag_id: str, logical_date: datetime) -> None:
    """Mark a stopped run failed, as Airflow marks a run failed by hand: its active tasks failed, the tasks
    that never started skipped. Nothing is left `running` for `retrain status`, the UI or a rerun."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).one_or_none()
        if run is None or run.state != DagRunState.RUNNING:
            return
        run.state = DagRunState.FAILED
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        )
        for ti in tis:
            if ti.state in (None, TaskInstanceState.SCHEDULED):
                ti.state = TaskInstanceState.SKIPPED
            elif ti.state not in (
                TaskInstanceState.SUCCESS,
                TaskInstanceState.FAILED,
                TaskInstanceState.SKIPPED,
                TaskInstanceState.UPSTREAM_FAILED,
                TaskInstanceState.REMOVED,
            ):
                ti.state = TaskInstanceState.FAILED


def _started_elsewhere(dag_id: str, logical_date: datetime) -> bool:
    """Whether a run of this DAG and date is `running` and was not started by `dag.test()` (a scheduler's).

    A `running` run that `dag.test()` started, found while we hold the date's lock, is left over from a
    process that died (SIGKILL): `dag.test()` replaces it, as a rerun should.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).one_or_none()
        return run is not None and run.state == DagRunState.RUNNING and run.triggered_by != DagRunTriggeredByType.TEST


class DagRunner:
    """Parses the project's DAGs once and runs them for given dates."""

    def __init__(self, dags_folder: Path, airflow_home: Path) -> None:
        self.airflow_home = Path(airflow_home)
        ensure_database(airflow_home)
        redact_console_logs()
        self.bag = DagBag(dag_folder=str(dags_folder))
        if self.bag.import_errors:
            problems = "\n".join(
                f"{path}: {err.strip().splitlines()[-1]}" for path, err in self.bag.import_errors.items()
            )
            raise RuntimeError(f"DAG files failed to import:\n{problems}")

    def dag(self, dag_id: str) -> DAG:
        dag = self.bag.get_dag(dag_id)
        if dag is None:
            known = ", ".join(sorted(self.bag.dag_ids))
            raise KeyError(f"no DAG with id {dag_id!r}; the project's DAGs are: {known}")
        return dag

    def queued_runs(self, dag_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Runs created but not started (a TriggerDagRunOperator's, with no scheduler): (ds, conf)."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            runs = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state == "queued").order_by(DagRun.logical_date)
            ).all()
            return [(r.logical_date.date().isoformat(), dict(r.conf or {})) for r in runs if r.logical_date]

    def run(self, dag_id: str, ds: str | date, conf: dict[str, Any] | None = None) -> RunResult:
        """Run `dag_id` for the day `ds` to its end, unless a run of that DAG and day is in progress.

        `dag.test()` deletes any run of the same DAG and date and creates its own (unique per DAG and
        logical date): a second `retrain run` would break the first, or die on that constraint. One
        `flock` per DAG and date in AIRFLOW_HOME/locks keeps a second process out for the whole run.

        Raises:
            RunInProgressError: Another process of this home (or a scheduler) runs `dag_id` for `ds`.
            Stopped: SIGTERM or SIGINT arrived: the running task was interrupted and the DAG run marked
                failed, within seconds (a rerun of the day starts it again).
        """
        from sqlalchemy.exc import IntegrityError

        day = date.fromisoformat(ds) if isinstance(ds, str) else ds
        logical_date = datetime(day.year, day.month, day.day, tzinfo=UTC)
        started = time.monotonic()
        stop = functools.partial(_fail_unfinished, dag_id, logical_date)
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(file_lock(self.airflow_home / "locks" / f"{dag_id}.{day}.lock", wait=False))
            except BlockingIOError:
                raise RunInProgressError(dag_id, day.isoformat(), "another `retrain run` in this home") from None
            if _started_elsewhere(dag_id, logical_date):
                raise RunInProgressError(dag_id, day.isoformat(), "started by the scheduler")
            try:
                with stop_on_signals(on_timeout=lambda _: stop()):
                    dag_run = self.dag(dag_id).test(logical_date=logical_date, run_conf=conf)
            except Stopped:
                stop()
                raise
            except IntegrityError as exc:  # a run created between our check and dag.test()'s own
                if "dag_run" not in str(exc):
                    raise
                raise RunInProgressError(dag_id, day.isoformat(), "created while this one started") from None
        tasks: dict[str, str] = {}
        for ti in dag_run.get_task_instances():
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            tasks[key] = str(getattr(ti.state, "value", ti.state))
        state = str(getattr(dag_run.state, "value", dag_run.state))
        return RunResult(dag_id, day.isoformat(), state, time.monotonic() - started, tasks)

    def run_range(
        self,
        dag_id: str,
        days: list[str],
        conf: dict[str, Any] | None = None,
        on_result: Callable[[RunResult], None] | None = None,
    ) -> list[RunResult]:
        """Run `dag_id` for each day of `days` in order, in this process; a failed day never stops the rest.

        One parse of the DAGs and one database check serve the whole range (Airflow's start-up is paid
        once). A day that cannot run (in progress elsewhere, an error outside the tasks) is a failed
        result with its reason in `error`; `on_result` is called after each day (a progress bar).

        Raises:
            Stopped: SIGTERM or SIGINT: the running day was marked failed; the later days did not run.
        """
        from retrain.notify import first_line

        results = []
        for ds in days:
            started = time.monotonic()
            try:
                result = self.run(dag_id, ds, conf)
            except Stopped:
                raise
            except Exception as exc:  # one day's trouble is reported with that day; the range goes on
                error = first_line(exc, _masked())
                result = RunResult(dag_id, ds, "failed", time.monotonic() - started, error=error)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results


def _masked() -> list[str]:
    from retrain.airflow.context import masked_secrets

    return masked_secrets()
