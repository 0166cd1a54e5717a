"""One DAG run per DAG and logical date at a time in a home, and a stopped run left failed, not `running`.

`dag.test()` deletes any run of the same DAG and date and creates its own (unique per DAG and logical
date): a second `retrain run` would break the first, or die on that constraint. One `flock` per DAG and
date in AIRFLOW_HOME/locks keeps a second process out for the whole run; SIGTERM/SIGINT stop the run
within seconds and mark it failed (`retrain.ops.signals`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from retrain.errors import ConflictError
from retrain.io import file_lock
from retrain.ops.signals import Stopped, stop_on_signals


class RunInProgressError(ConflictError):
    """A run of the same DAG and logical date is already in progress in this home; nothing was started."""

    def __init__(self, dag_id: str, ds: str, by: str) -> None:
        super().__init__(
            f"a run of DAG {dag_id!r} for {ds} is already in progress ({by}); wait for it to end "
            f"(`retrain status`), then run `retrain run {dag_id} --date {ds}` again if still needed"
        )


def fail_unfinished(dag_id: str, logical_date: datetime) -> None:
    """Mark a stopped run failed, as Airflow marks a run failed by hand: its active tasks failed, the tasks
    that never started skipped. Nothing is left `running` for `retrain status`, the UI or a rerun."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    # The stop may have landed inside a statement of the run's own (thread-scoped) session: SQLAlchemy
    # then invalidates its connection mid-transaction, and every later use fails with PendingRollbackError
    # until it is rolled back. End that session (a rollback) and start from a clean one.
    settings.Session.remove()
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


def started_elsewhere(dag_id: str, logical_date: datetime) -> bool:
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


@contextlib.contextmanager
def exclusive_run(airflow_home: Path, dag_id: str, day: date, logical_date: datetime) -> Iterator[None]:
    """Hold the DAG's and date's lock for the block, and stop the block on SIGTERM/SIGINT.

    Raises:
        RunInProgressError: Another process of this home (or a scheduler) runs `dag_id` for `day`, or a
            run was created between our check and `dag.test()`'s own.
        Stopped: SIGTERM or SIGINT arrived: the running task was interrupted and the DAG run marked
            failed, within seconds (a rerun of the day starts it again).
    """
    from sqlalchemy.exc import IntegrityError

    stop = functools.partial(fail_unfinished, dag_id, logical_date)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(file_lock(airflow_home / "locks" / f"{dag_id}.{day}.lock", wait=False))
        except BlockingIOError:
            raise RunInProgressError(dag_id, day.isoformat(), "another `retrain run` in this home") from None
        if started_elsewhere(dag_id, logical_date):
            raise RunInProgressError(dag_id, day.isoformat(), "started by the scheduler")
        try:
            with stop_on_signals(on_timeout=lambda _: stop()):
                yield
        except Stopped:
            stop()
            raise
        except IntegrityError as exc:  # a run created between our check and dag.test()'s own
            if "dag_run" not in str(exc):
                raise
            raise RunInProgressError(dag_id, day.isoformat(), "created while this one started") from None
