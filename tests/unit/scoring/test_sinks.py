"""The predictions table sink on SQLite: a day replaced whole, other days untouched, errors classified."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrain.errors import ConfigurationError, TransientError, classify
from retrain.scoring.sinks import write_day_to_table

BINARY = "row,prediction,probability,model_version\n0,1,0.9,3\n1,0,0.2,3\n2,1,0.7,3\n"
MULTI = (
    "row,prediction,probability,model_version,probability_Adelie,probability_Gentoo\n"
    '0,"Adelie",0.8,7,0.8,0.2\n1,"Gentoo",0.6,7,0.4,0.6\n'
)


def _csv(tmp_path: Path, text: str, name: str = "predictions.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(db: Path, table: str = "predictions") -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY ds, row").fetchall()  # noqa: S608


def test_a_day_is_written_then_replaced_whole_and_other_days_stay(tmp_path) -> None:
    db = tmp_path / "out.db"
    url = f"sqlite:///{db}"
    # when two days are written, then the first again (a rerun), then once more with a changed result
    assert write_day_to_table(url, "predictions", "2025-12-01", _csv(tmp_path, BINARY)) == 3
    write_day_to_table(url, "predictions", "2025-12-02", _csv(tmp_path, BINARY))
    write_day_to_table(url, "predictions", "2025-12-01", _csv(tmp_path, BINARY))
    rows = _rows(db)
    assert len(rows) == 6  # no duplicates
    assert rows[0] == ("2025-12-01", 0, 1, 0.9, "3")
    rescored = BINARY.replace("0.9,3", "0.95,4").replace(",3\n", ",4\n")
    write_day_to_table(url, "predictions", "2025-12-01", _csv(tmp_path, rescored))
    rows = _rows(db)
    assert [r for r in rows if r[0] == "2025-12-01"][0] == ("2025-12-01", 0, 1, 0.95, "4")
    assert len(rows) == 6 and {r[4] for r in rows if r[0] == "2025-12-02"} == {"3"}


def test_multiclass_days_carry_one_probability_column_per_class(tmp_path) -> None:
    db = tmp_path / "out.db"
    write_day_to_table(f"sqlite:///{db}", "penguins", "2025-12-01", _csv(tmp_path, MULTI))
    with sqlite3.connect(db) as connection:
        columns = [c[1] for c in connection.execute("PRAGMA table_info(penguins)")]
    assert columns == [
        "ds",
        "row",
        "prediction",
        "probability",
        "model_version",
        "probability_Adelie",
        "probability_Gentoo",
    ]
    assert _rows(db, "penguins")[1] == ("2025-12-01", 1, "Gentoo", 0.6, "7", 0.4, 0.6)


def test_a_table_that_does_not_fit_is_configuration(tmp_path) -> None:
    db = tmp_path / "out.db"
    write_day_to_table(f"sqlite:///{db}", "predictions", "2025-12-01", _csv(tmp_path, BINARY))
    with pytest.raises(ConfigurationError, match="must have the columns") as caught:
        write_day_to_table(f"sqlite:///{db}", "predictions", "2025-12-02", _csv(tmp_path, MULTI))
    assert classify(caught.value) == "configuration"
    assert len(_rows(db)) == 3  # the failed day left nothing behind


def test_a_database_that_does_not_answer_is_transient_and_never_quotes_the_password(tmp_path) -> None:
    url = "postgresql://writer:pw-Kd81@127.0.0.1:9/out?connect_timeout=2"
    with pytest.raises(TransientError) as caught:
        write_day_to_table(url, "predictions", "2025-12-01", _csv(tmp_path, BINARY))
    assert classify(caught.value) == "transient" and "pw-Kd81" not in str(caught.value)
