"""Parquet written from pandas' nullable or pyarrow dtypes reads like the same data written from NumPy dtypes.

Users write Parquet from `df.convert_dtypes()` or `pd.read_csv(..., dtype_backend="numpy_nullable" |
"pyarrow")` as often as from plain NumPy columns: `Int64`, `Float64`, `boolean`, `string` (or their
`[pyarrow]` twins, and `null[pyarrow]` for a column with no value at all). Both readers of the data stage
must take them as the kinds (`retrain.data.kinds`) of their plain equivalents (integers with gaps as
float64, text as `str`, booleans as True/False), missing values kept as NaN: landing (a folder day,
`FolderSource` then `read_features`) and scoring (`scoring.readers`, as `retrain predict` streams a file).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.data.sources import FolderSource
from retrain.data.validate import read_features
from retrain.scoring import ScoringInputError, readers

DS = "2026-01-01"
# every kind with a gap, and a column with no value at all (an optional field nobody filled in today)
CSV = "n,x,s,b,empty\n1,0.5,a,true,\n,1.5,,false,\n3,,c,,\n4,2.25,a,true,\n"
KINDS = {"n": "int", "x": "float", "s": "string", "b": "bool", "empty": "string"}
PLAIN = pd.DataFrame(
    {
        "n": [1.0, np.nan, 3.0, 4.0],  # an integer column with a gap is float64, as pandas holds it
        "x": [0.5, 1.5, np.nan, 2.25],
        "s": ["a", np.nan, "c", "a"],
        "b": [True, False, np.nan, True],
        "empty": [np.nan] * 4,
    }
).astype({"s": object, "b": object, "empty": object})

WRITERS = {
    "numpy": lambda: pd.read_csv(io.StringIO(CSV)),
    "convert_dtypes": lambda: pd.read_csv(io.StringIO(CSV)).convert_dtypes(),
    "numpy_nullable": lambda: pd.read_csv(io.StringIO(CSV), dtype_backend="numpy_nullable"),
    "pyarrow": lambda: pd.read_csv(io.StringIO(CSV), dtype_backend="pyarrow"),
    "convert_dtypes_pyarrow": lambda: pd.read_csv(io.StringIO(CSV)).convert_dtypes(dtype_backend="pyarrow"),
    "category": lambda: pd.read_csv(io.StringIO(CSV)).astype({"s": "category"}),
}


def _parquet(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "source" / DS / "data.parquet"
    path.parent.mkdir(parents=True)
    frame.to_parquet(path, index=False)
    return path


def _scored(path: Path, kinds: dict[str, str] | None, batch_rows: int = 3) -> pd.DataFrame:
    """The rows as `retrain predict` hands them to the model (streamed, regrouped in `batch_rows`)."""
    columns = list(KINDS) if kinds is not None else ["n"]
    batches = readers.open_features(path, columns, kinds=kinds)
    parts = [m for _, m in readers.matrices(batches, columns, batch_rows, first_row=0, path=path, kinds=kinds)]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_parquet_day_lands_and_scores_as_its_numpy_equivalent(tmp_path: Path, writer: str) -> None:
    # given one day written by pandas with this writer's dtypes, gaps in every column, one column all missing
    frame = WRITERS[writer]()
    path = _parquet(tmp_path, frame)
    # when it lands (the folder source hands it over as CSV; the data stage types it)
    landed = read_features(FolderSource(path.parents[1]).fetch(DS, tmp_path / "staging").data)
    # and when the scorer streams it with a model's kinds
    scored = _scored(path, KINDS)
    # then both readers hold the plain kinds: float64 numbers, text and booleans as objects, NaN for a gap
    expected = PLAIN.astype({"empty": "float64"})  # a first day's all-missing column has no kind yet: float
    pd.testing.assert_frame_equal(landed, expected)
    pd.testing.assert_frame_equal(scored, PLAIN)
    assert scored["b"].map(type).tolist()[:2] == [bool, bool] and scored["s"].iloc[0] == "a"


@pytest.mark.parametrize(
    ("dtype", "values", "kind", "expected"),
    [
        ("Int64", [1, None, 3], "int", [1.0, np.nan, 3.0]),
        ("int64[pyarrow]", [1, None, 3], "float", [1.0, np.nan, 3.0]),
        ("Float64", [0.5, None, 2.0], "float", [0.5, np.nan, 2.0]),
        ("double[pyarrow]", [0.5, None, 2.0], "float", [0.5, np.nan, 2.0]),
        ("boolean", [True, None, False], "bool", [True, np.nan, False]),
        ("bool[pyarrow]", [True, None, False], "bool", [True, np.nan, False]),
        ("string", ["a", None, "b"], "string", ["a", np.nan, "b"]),
        ("string[pyarrow]", ["a", None, "b"], "string", ["a", np.nan, "b"]),
        ("null[pyarrow]", [None, None, None], "float", [np.nan] * 3),
        ("null[pyarrow]", [None, None, None], "string", [np.nan] * 3),
        ("null[pyarrow]", [None, None, None], "bool", [np.nan] * 3),
        ("category", ["a", None, "b"], "string", ["a", np.nan, "b"]),
        ("Int64", [7, None, 8], "string", ["7", np.nan, "8"]),  # a category spelled with digits
    ],
)
def test_each_nullable_dtype_is_scored_as_its_kind_with_its_gap(tmp_path, dtype, values, kind, expected) -> None:  # type: ignore[no-untyped-def]
    # given a Parquet file whose one column pandas wrote with a nullable (or pyarrow) dtype and a gap
    path = tmp_path / "in.parquet"
    pd.DataFrame({"c": pd.Series(values, dtype=dtype)}).to_parquet(path, index=False)
    # when the scorer reads it for a model that holds the column as `kind`
    batches = readers.open_features(path, ["c"], kinds={"c": kind})
    (_, got), *more = readers.matrices(batches, ["c"], 10, first_row=0, path=path, kinds={"c": kind})
    # then it holds what a plain column of that kind holds, the gap as NaN
    assert not more
    numeric = kind in ("int", "float")
    want = pd.Series(expected, name="c", dtype="float64" if numeric else object)
    pd.testing.assert_series_equal(got["c"], want)


def test_a_column_with_no_value_still_fails_a_model_of_complete_numbers_at_its_first_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # given a pyarrow-backed file whose model column holds no value at all (Parquet type `null`)
    frame = pd.read_csv(io.StringIO("n,other\n,1\n,2\n"), dtype_backend="pyarrow")
    path = tmp_path / "in.parquet"
    frame.to_parquet(path, index=False)
    assert str(frame["n"].dtype) == "null[pyarrow]"
    # when a model trained on complete numbers scores it, then it is refused as its NumPy twin is: a gap at row 0
    with pytest.raises(ScoringInputError) as caught:
        _scored(path, kinds=None)
    assert caught.value.column == "n" and caught.value.row == 0 and "missing value" in str(caught.value)


def test_a_type_no_kind_holds_is_refused_naming_what_the_model_takes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # given a text feature the user's export wrote as dates
    path = tmp_path / "in.parquet"
    pd.DataFrame({"s": pd.to_datetime(["2026-01-01", "2026-01-02"])}).to_parquet(path, index=False)
    # when a model that holds `s` as text scores it, then the error names the column and what it takes
    with pytest.raises(ScoringInputError, match=r"column 's' holds timestamp\[.*\] values; the model needs text"):
        list(readers.open_features(path, ["s"], kinds={"s": "string"}))
