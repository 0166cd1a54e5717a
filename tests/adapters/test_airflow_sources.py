"""The sources only Airflow opens: `airflow://CONN_ID` (an AIRFLOW_CONN_ variable) and object storage (file://)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrain.airflow.context import masked_secrets
from retrain.airflow.sources import ObjectStorageSource, connection_url, source_for
from retrain.data.sources import SqlSource
from retrain.errors import ConfigurationError
from retrain.jobs.land import LandDay
from retrain.layout import Layout
from retrain.settings import load_settings

DS = "2025-12-05"


def test_an_airflow_connection_becomes_a_database_url_with_its_password_masked(monkeypatch) -> None:
    # given a connection defined the Airflow way, by an environment variable
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", "postgres://reader:pw%40Cn7@127.0.0.1:5432/shop?sslmode=disable")
    # when
    url = connection_url("shop_db")
    # then: a SQLAlchemy URL (postgres -> postgresql), its password registered with the maskers
    assert url == "postgresql://reader:pw%40Cn7@127.0.0.1:5432/shop?sslmode=disable"
    assert "pw@Cn7" in masked_secrets()
    with pytest.raises(ConfigurationError, match="no Airflow connection 'missing_db'.*AIRFLOW_CONN_MISSING_DB"):
        connection_url("missing_db")


def test_airflow_source_lands_a_day_from_the_connections_database(retrain_env, monkeypatch, tmp_path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE events (day TEXT, f00 REAL, f01 REAL, target INTEGER)")
        connection.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)", [(DS, 0.5, 1.0, 0), (DS, 1.5, 2.0, 1), (DS, 2.5, 3.0, 0)]
        )
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_SQLITE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    query = "SELECT f00, f01, target FROM events WHERE day = :ds ORDER BY f00"
    settings = load_settings({**retrain_env, "RETRAIN_SOURCE": "airflow://shop_sqlite", "RETRAIN_SOURCE_QUERY": query})
    source = source_for(settings)
    assert isinstance(source, SqlSource)
    landed = LandDay(settings, Layout(settings.data_dir), source).run(DS)
    assert (landed.origin, Path(landed.data).read_text()) == ("source", "f00,f01\n0.5,1\n1.5,2\n2.5,3\n")


def test_object_storage_days_land_through_object_storage_path(retrain_env, tmp_path) -> None:
    # given a file:// object store with a Parquet day and a CSV day whose labels have not arrived
    store = tmp_path / "bucket" / "days"
    (store / DS).mkdir(parents=True)
    pq.write_table(pa.table({"f00": [0.5, 1.5, 2.5], "f01": [1.0, 2.0, 3.0]}), store / DS / "data.parquet")
    pq.write_table(pa.table({"target": [0, 1, 0]}), store / DS / "target.parquet")
    (store / "2025-12-06").mkdir()
    (store / "2025-12-06" / "data.csv").write_text("f00,f01\n1,2\n")
    settings = load_settings({**retrain_env, "RETRAIN_SOURCE": f"file://{store}"})
    source = source_for(settings)
    assert isinstance(source, ObjectStorageSource)
    job = LandDay(settings, Layout(settings.data_dir), source)
    # when / then
    first = job.run(DS)
    assert Path(first.data).read_text() == "f00,f01\n0.5,1\n1.5,2\n2.5,3\n" and Path(str(first.target)).read_text() == (
        "target\n0\n1\n0\n"
    )
    second = job.run("2025-12-06")
    assert second.target is None and Path(second.data).read_text() == "f00,f01\n1,2\n"
    with pytest.raises(FileNotFoundError, match="2025-12-07/ does not exist"):
        job.run("2025-12-07")
