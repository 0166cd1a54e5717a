"""A stopped run is marked failed even when the stop broke the run's own database session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.integration


def test_a_stop_inside_a_statement_does_not_keep_the_run_from_being_marked(runner) -> None:  # type: ignore[no-untyped-def]
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select, text, update
    from sqlalchemy.exc import PendingRollbackError

    from retrain.airflow.run_guard import fail_unfinished

    # given: a DAG run left running (a real one, set back to running), and the thread's session in the
    # state a stop inside a statement leaves (SQLAlchemy invalidates the connection of a DBAPI call
    # interrupted by a BaseException)
    assert runner.run("generate_data", "2025-12-03").ok
    day = datetime(2025, 12, 3, tzinfo=UTC)
    with settings.Session() as setup:
        setup.execute(update(DagRun).where(DagRun.logical_date == day).values(state=DagRunState.RUNNING))
        setup.commit()
    session = settings.Session()
    session.execute(text("SELECT 1"))
    session.connection().invalidate()
    with pytest.raises(PendingRollbackError):
        session.execute(text("SELECT 1"))
    # when / then: the run is marked failed all the same
    fail_unfinished("generate_data", day)
    state = settings.Session().scalars(select(DagRun.state).where(DagRun.logical_date == day)).one()
    assert state == DagRunState.FAILED
