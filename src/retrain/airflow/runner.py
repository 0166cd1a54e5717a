"""Run a DAG for one logical date through Airflow, in this process (`dag.test()`).

One process can run many DAG runs: Airflow, pandas, scikit-learn and MLflow are imported once, which
is what makes a five-week simulated timeline take a minute or two instead of tens of minutes.
Call `retrain.ops.home.prepare_airflow_home` before importing this module. One run per DAG and date at
a time, and stopping on signals, are `run_guard`'s; what the run prints is `console_logs`'.
"""

from __future__ import annotations

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

from retrain.airflow.approval import resolve_timeouts  # noqa: E402
from retrain.airflow.console_logs import collapse_idle_loop, redact_console_logs, task_errors  # noqa: E402
from retrain.airflow.execution_api import serve_only_newest_version  # noqa: E402
from retrain.airflow.idle_loop import backed_off_idle_sleep  # noqa: E402
from retrain.airflow.run_guard import RunInProgressError, exclusive_run  # noqa: E402
from retrain.io import file_lock  # noqa: E402
from retrain.ops.signals import Stopped  # noqa: E402
from retrain.ops.startup import young_collections_only  # noqa: E402

__all__ = ["DagRunner", "RunInProgressError", "RunResult", "ensure_database", "redact_console_logs"]

_MIGRATED = ".retrain-db-migrated-"


@dataclass(frozen=True)
class RunResult:
    """A finished DAG run: its state, seconds, each task's state (upstream first), each failed task's error."""

    dag_id: str
    ds: str
    state: str
    seconds: float
    tasks: dict[str, str] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    error: str | None = None
    """Why the run could not start or finish outside a task (e.g. a run of that day in progress elsewhere)."""

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def failed_tasks(self) -> list[str]:
        return sorted(k for k, v in self.tasks.items() if v in ("failed", "upstream_failed"))


def ensure_database(airflow_home: Path) -> None:
    """Create or migrate Airflow's metadata database once per Airflow version (a marker file says so)."""
    marker = airflow_home / f"{_MIGRATED}{airflow.__version__}"
    if marker.exists():
        return
    from airflow.utils import db

    with file_lock(airflow_home / "locks" / "migrate.lock"):  # two first commands at once migrate once
        if not marker.exists():
            db.upgradedb()
            marker.touch()


class DagRunner:
    """Parses the project's DAGs once and runs them for given dates."""

    def __init__(self, dags_folder: Path, airflow_home: Path) -> None:
        self.airflow_home = Path(airflow_home)
        ensure_database(airflow_home)
        redact_console_logs()
        collapse_idle_loop()
        serve_only_newest_version()  # Airflow's in-process API: ~9 s less per process (see the module)
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

    def run(self, dag_id: str, ds: str | date, conf: dict[str, Any] | None = None, *, last: bool = False) -> RunResult:
        """Run `dag_id` for the day `ds` to its end, unless a run of that DAG and day is in progress.

        `last=True` says the process ends after this run: the full collection that keeps a long
        process's memory bounded run by run is skipped (`young_collections_only`).

        Raises:
            RunInProgressError: Another process of this home (or a scheduler) runs `dag_id` for `ds`.
            Stopped: SIGTERM or SIGINT arrived: the running task was interrupted and the DAG run marked
                failed, within seconds (a rerun of the day starts it again).
        """
        day = date.fromisoformat(ds) if isinstance(ds, str) else ds
        logical_date = datetime(day.year, day.month, day.day, tzinfo=UTC)
        started = time.monotonic()
        dag = self.dag(dag_id)
        # An approval (RETRAIN_APPROVAL=required) waits for an answer from the UI or the REST API of an
        # api-server on this metadata database; its timeout needs the scheduler's sweep (none here).
        with (
            exclusive_run(self.airflow_home, dag_id, day, logical_date),
            task_errors() as errors,
            backed_off_idle_sleep(),  # a failure's downstream levels settle in ~1.5 s, not one second each
            resolve_timeouts(dag),
            young_collections_only(collect_on_leaving=not last),  # the tasks' imports: see the module
        ):
            dag_run = dag.test(logical_date=logical_date, run_conf=conf)
        tasks: dict[str, str] = {}  # in the order the DAG runs them (upstream first), as the summary shows them
        position = {task_id: i for i, task_id in enumerate(_run_order(dag.task_group))}
        by_run_order = sorted(dag_run.get_task_instances(), key=lambda ti: (position.get(ti.task_id, -1), ti.map_index))
        for ti in by_run_order:
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            tasks[key] = str(getattr(ti.state, "value", ti.state))
        state = str(getattr(dag_run.state, "value", dag_run.state))
        failed = {k: e for k, e in errors.items() if tasks.get(k) in ("failed", "upstream_failed")}
        seconds = time.monotonic() - started
        if not tasks:  # Airflow marks such a run successful: nothing ran, which is not what was asked
            why = f"no task ran for {day}: it is before the DAG's start date {dag.start_date:%Y-%m-%d}"
            return RunResult(dag_id, day.isoformat(), "failed", seconds, error=why)
        return RunResult(dag_id, day.isoformat(), state, seconds, tasks, failed)

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


def _run_order(group: Any) -> list[str]:
    """The task ids of a DAG's task group (nested groups flattened), each after every task upstream of it."""
    from airflow.sdk.definitions.taskgroup import TaskGroup

    ids: list[str] = []
    for node in group.topological_sort():
        ids.extend(_run_order(node) if isinstance(node, TaskGroup) else [node.task_id])
    return ids


def _masked() -> list[str]:
    from retrain.airflow.context import masked_secrets

    return masked_secrets()
