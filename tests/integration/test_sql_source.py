"""A PostgreSQL source table and a PostgreSQL predictions table, through the real DAGs, as a range.

generate_data lands six days from a query on `:ds` (one day's labels are all one class, a broken
export: it fails and the range goes on; the last day has no labels yet: it lands its features only)
→ retrain on the labelled days → batch_predict writes the unlabelled day's predictions to a PostgreSQL
table; a rerun leaves the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.conftest import days
from tests.services.topology import DEFAULT_PG_DSN, create_database, drop_database

pytestmark = pytest.mark.integration

DAYS = days("2025-12-01", 6)
BAD, UNLABELLED = DAYS[3], DAYS[-1]
QUERY = "SELECT f00, f01, f02, f03, target FROM events WHERE day = :ds ORDER BY id"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database of its own on 127.0.0.1:5432 (trust auth), dropped after the test."""
    import psycopg2

    try:
        psycopg2.connect(DEFAULT_PG_DSN, connect_timeout=3).close()
    except psycopg2.Error as exc:
        pytest.skip(f"PostgreSQL does not answer at {DEFAULT_PG_DSN}: {str(exc).strip().splitlines()[0]}")
    name = f"retrain_sql_{uuid.uuid4().hex[:10]}"
    url = create_database(DEFAULT_PG_DSN, name)
    try:
        yield url
    finally:
        drop_database(DEFAULT_PG_DSN, name)


def _fill_events(url: str) -> None:
    """Six days of the synthetic stream in one table; one label value in BAD, NULL labels in UNLABELLED."""
    import psycopg2

    from retrain.data.generate import generate_day

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE events (day date, id integer, f00 double precision, f01 double precision, "
            "f02 double precision, f03 double precision, target integer)"
        )
        for ds in DAYS:
            X, y = generate_day(ds, rows=300, n_features=4, seed=5, drift_start=None, drift_strength=0.0)
            rows = [(ds, i, *map(float, X.iloc[i]), None if ds == UNLABELLED else int(y[i])) for i in range(len(X))]
            if ds == BAD:  # a NULL feature would land (missing values are data); a one-class day does not
                rows = [(*row[:-1], 1) for row in rows]
            cursor.executemany("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def _predictions(url: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT ds::text, row, prediction, probability, model_version FROM predictions ORDER BY ds, row")
        return cursor.fetchall()


def test_a_postgresql_source_and_sink_through_the_dags(runner, pg_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: the days in a PostgreSQL table, predictions going to the same database
    _fill_events(pg_url)
    monkeypatch.setenv("RETRAIN_SOURCE", pg_url)
    monkeypatch.setenv("RETRAIN_SOURCE_QUERY", QUERY)
    monkeypatch.setenv("RETRAIN_PREDICTIONS_URL", pg_url)
    from retrain.layout import Layout
    from retrain.settings import load_settings

    layout = Layout(load_settings().data_dir)

    # when: the six days land as one range
    results = runner.run_range("generate_data", DAYS)

    # then: the bad day failed (quarantined, saying why), the range went on, the last day has no labels
    assert [r.ds for r in results] == DAYS
    assert [r.ds for r in results if not r.ok] == [BAD]
    assert results[3].failed_tasks() == ["generate"]
    assert "label(s) is 1" in (layout.quarantine(BAD) / "reason.txt").read_text()
    assert layout.features_landed(UNLABELLED) and not layout.day_landed(UNLABELLED)
    assert layout.raw_days() == [d for d in DAYS if d not in (BAD, UNLABELLED)]
    assert layout.raw_data(DAYS[0]).read_text().splitlines()[0] == "f00,f01,f02,f03"

    # when: a retrain on the labelled days, then the unlabelled day is scored, twice
    assert runner.run("retrain", DAYS[-2]).ok
    assert runner.run("batch_predict", UNLABELLED).ok
    first = _predictions(pg_url)
    assert runner.run("batch_predict", UNLABELLED).ok

    # then: one row per input row, as predictions.csv says, and the rerun left the same rows
    assert len(first) == 300 and {r[0] for r in first} == {UNLABELLED}
    assert [r[1] for r in first] == list(range(300)) and {r[4] for r in first} == {"1"}
    csv_lines = layout.predictions_file(UNLABELLED).read_text().splitlines()[1:]
    assert csv_lines[0].split(",")[:3] == [str(first[0][1]), str(first[0][2]), repr(first[0][3])]
    assert _predictions(pg_url) == first
