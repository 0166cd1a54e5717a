"""Sources without Airflow: folder days in CSV or Parquet, and a database query on `:ds` (SQLite here)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrain.data.errors import BadDataError
from retrain.data.generate import generate_day
from retrain.data.sources import FolderSource, SqlSource, source_from_settings
from retrain.errors import ConfigurationError, TransientError, classify
from retrain.jobs.land import LandDay
from retrain.layout import Layout
from retrain.settings import load_settings

DS = "2025-12-05"


def _parquet_day(root: Path, ds: str, *, target: bool = True, rows: int = 300) -> None:
    X, y = generate_day(ds, rows=rows, n_features=4, seed=3, drift_start=None, drift_strength=0.0)
    (root / ds).mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(X, preserve_index=False), root / ds / "data.parquet")
    if target:
        pq.write_table(pa.table({"target": y.to_numpy()}), root / ds / "target.parquet")


def test_a_parquet_day_is_handed_over_as_csv_with_its_own_types(tmp_path) -> None:
    # given a Parquet day with an integer, a float, a text column (with a comma) and a gap
    day = tmp_path / "src" / DS
    day.mkdir(parents=True)
    table = pa.table({"n": [1, 2, None], "x": [0.5, 1e-9, 3.0], "s": ["a", "b,c", None], "b": [True, False, True]})
    pq.write_table(table, day / "data.parquet")
    # when
    fetched = FolderSource(tmp_path / "src").fetch(DS, tmp_path / "staging")
    # then: the values as text of their own type (no float64 forced), labels not arrived
    assert fetched.target is None
    assert fetched.data.read_text() == 'n,x,s,b\n1,0.5,"a",true\n2,1e-9,"b,c",false\n,3,,true\n'
    assert fetched.data.parent == tmp_path / "staging"


def test_both_formats_of_one_file_in_a_day_is_bad_data(tmp_path) -> None:
    _parquet_day(tmp_path, DS)
    (tmp_path / DS / "data.csv").write_text("f00\n1\n")
    with pytest.raises(BadDataError, match=r"both data\.csv and data\.parquet"):
        FolderSource(tmp_path).fetch(DS, tmp_path / "staging")


def test_parquet_days_land_and_train(retrain_env, tmp_path, monkeypatch) -> None:
    # given a folder of seven Parquet days
    from retrain.jobs.retrain import RetrainJob

    days = [f"2025-12-0{d}" for d in range(1, 8)]
    for ds in days:
        _parquet_day(tmp_path / "src", ds)
    monkeypatch.setenv("RETRAIN_SOURCE", str(tmp_path / "src"))
    monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": 20}')
    settings = load_settings()
    layout = Layout(settings.data_dir)
    # when they land
    for ds in days:
        landed = LandDay(settings, layout).run(ds)
        assert landed.target == str(layout.raw_target(ds))
    # then raw/ holds the contract's CSV files, with the Parquet values, and a retrain trains on them
    X, y = generate_day(days[0], rows=300, n_features=4, seed=3, drift_start=None, drift_strength=0.0)
    assert layout.raw_data(days[0]).read_text().splitlines()[0] == ",".join(X.columns)
    assert layout.raw_target(days[0]).read_text().split() == ["target", *map(str, y)]
    assert layout.raw_days() == days
    assert not list(layout.root.glob(".staging-*"))  # the staging folders are gone
    job = RetrainJob(settings, layout)
    run = job.prepare(days[-1], "schedule")
    trained = job.train(job.split(job.validate(run)))
    assert trained.run_id and json.loads(json.dumps(trained.to_dict()))["window"] == days


def _sqlite_source(tmp_path: Path, rows: list[tuple]) -> str:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (day TEXT, id INTEGER, f00 REAL, colour TEXT, target INTEGER)")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    return f"sqlite:///{path}"


QUERY = "SELECT f00, colour, target FROM events WHERE day = :ds ORDER BY id"


def test_a_query_returns_one_day_with_its_labels_split_off(tmp_path) -> None:
    url = _sqlite_source(
        tmp_path, [(DS, 2, 0.25, "red", 1), (DS, 1, 1.5, "blue", 0), ("2025-12-06", 1, 9.0, "x", None)]
    )
    source = SqlSource(url, QUERY)
    day = source.fetch(DS, tmp_path / "staging")
    assert day.data.read_text() == 'f00,colour\n1.5,"blue"\n0.25,"red"\n'
    assert day.target is not None and day.target.read_text() == "target\n0\n1\n"
    # a day whose labels are null has none yet; a day with no rows has not arrived
    assert source.fetch("2025-12-06", tmp_path / "staging2").target is None
    with pytest.raises(FileNotFoundError, match="no rows for 2025-12-07"):
        source.fetch("2025-12-07", tmp_path / "staging3")


def test_a_query_without_the_label_column_or_with_bad_sql_is_configuration(tmp_path) -> None:
    url = _sqlite_source(tmp_path, [(DS, 1, 1.5, "blue", 0)])
    with pytest.raises(ConfigurationError, match="RETRAIN_LABEL_COLUMN 'label'"):
        SqlSource(url, QUERY, "label").fetch(DS, tmp_path / "s1")
    with pytest.raises(ConfigurationError, match="RETRAIN_SOURCE_QUERY failed") as caught:
        SqlSource(url, "SELECT * FROM nowhere WHERE day = :ds").fetch(DS, tmp_path / "s2")
    assert classify(caught.value) == "configuration"


def test_a_database_that_does_not_answer_is_transient_and_keeps_its_password(tmp_path) -> None:
    # given a PostgreSQL URL on a port nothing listens on, with a password
    source = SqlSource("postgresql://alice:pw-Sq7x@127.0.0.1:9/db?connect_timeout=2", QUERY)
    with pytest.raises(TransientError) as caught:
        source.fetch(DS, tmp_path / "staging")
    assert classify(caught.value) == "transient"
    assert "pw-Sq7x" not in str(caught.value) and "alice:***@127.0.0.1" in str(caught.value)


def test_settings_open_a_folder_or_a_database_and_land_an_unlabelled_sql_day(retrain_env, tmp_path) -> None:
    url = _sqlite_source(tmp_path, [(DS, 1, 1.5, "blue", None), (DS, 2, 0.5, "red", None)])
    env = {
        **retrain_env,
        "RETRAIN_SOURCE": url,
        "RETRAIN_SOURCE_QUERY": "SELECT f00, target FROM events WHERE day = :ds",
    }
    settings = load_settings(env)
    assert isinstance(source_from_settings(settings), SqlSource)
    layout = Layout(settings.data_dir)
    landed = LandDay(settings, layout).run(DS)
    assert landed.target is None and layout.raw_data(DS).read_text() == "f00\n1.5\n0.5\n"
    assert isinstance(
        source_from_settings(load_settings({**retrain_env, "RETRAIN_SOURCE": str(tmp_path)})), FolderSource
    )
