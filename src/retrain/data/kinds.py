"""The kinds of feature columns (`int`, `float`, `string`, `bool`): how each is read from a CSV and held in memory.

One definition for every reader of feature files (landing, the split files, drift, the scorer), so a
model is trained on exactly the values it is later asked to score:

- reading: numeric columns are declared float64 to pyarrow (the fast path, unchanged); `string` and
  `bool` columns are read as text, with pyarrow's missing-value spellings (``, `NA`, `NaN`, `null`,
  ...) as missing (`read_type`); a typed (Parquet) column is cast to the same types (`as_read_type`),
  whether pandas wrote it from NumPy dtypes, from its nullable ones (`Int64`, `Float64`, `boolean`,
  `string`) or from pyarrow ones (`readable_type`);
- in memory (`to_series`): `int` as int64 (float64 when a value is missing, as pandas holds it),
  `float` as float64, `string` as object of `str`, `bool` as object of Python `True`/`False`;
  a missing value is always `NaN` (scikit-learn's encoders treat `None` and `NaN` as two different
  categories, so one spelling is kept everywhere);
- a day without a schema (the first one) is inferred (`infer_kind`): integers if every value is
  one, else numbers, else `true`/`false` (any case), else text. A column whose values are mostly
  numbers but not all is refused at its first non-number (`mostly_numbers`): a broken export far
  more often than a category, as labels are treated (`retrain.data.validate.label_values`).

Kinds widen across days (`widest`): `int` with `float` is `float`, `bool` with text is `string`,
numbers with text are `string` (landing refuses text in a column earlier days hold as numbers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["int", "float", "string", "bool"]
NUMERIC_KINDS = ("int", "float")
_BOOL_TEXT = {"true": True, "false": False}


def read_type(kind: str) -> pa.DataType:
    """The pyarrow type a column of `kind` is read as from a CSV (numbers as float64, the rest as text)."""
    return pa.float64() if kind in NUMERIC_KINDS else pa.string()


def readable_type(type_: pa.DataType) -> bool:
    """Whether a typed column (Parquet) of `type_` can be read as a kind: numbers, true/false, text, or no value.

    pandas writes its nullable dtypes as the types of their plain equivalents, with nulls for `<NA>`:
    `Int64` as int64, `Float64` as double, `boolean` as bool, `string` as (large_)string; so does
    `dtype_backend="pyarrow"`, which writes a column holding no value at all (an empty column of
    `read_csv`, an all-missing object column) as `null`, and a `category` as a dictionary of its values.
    Every one of them is read like its plain equivalent (`as_read_type`); a missing value stays missing.
    """
    if pa.types.is_dictionary(type_):
        return readable_type(type_.value_type)
    return (
        pa.types.is_integer(type_)
        or pa.types.is_floating(type_)
        or pa.types.is_decimal(type_)
        or pa.types.is_boolean(type_)
        or pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_null(type_)
    )


def as_read_type(column: pa.ChunkedArray | pa.Array, kind: str | None) -> pa.ChunkedArray | pa.Array:
    """A typed column of a `readable_type` as `read_type(kind)` holds it (`kind` None: a model of numbers only).

    Numbers as float64 (integers, decimals, booleans as 0/1, numeric text; nulls stay null), the
    rest as text (booleans as `true`/`false`, numbers as their digits), so that a Parquet column reaches
    `to_series` as the same text or float64 its plain CSV equivalent gives.

    Raises:
        pa.ArrowInvalid: A text value is not a number in a numeric column (callers locate the row).
        pa.ArrowNotImplementedError: The type is not a `readable_type`.
    """
    to = read_type(kind or "float")
    return column if column.type == to else pc.cast(column, to, safe=False)


def missing_as_null(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A text column with pyarrow's own missing-value spellings (``, `NaN`, `NA`, `null`, ...) as nulls.

    Read as text, pyarrow keeps an empty cell as `""`; a numeric read would have made it null.
    """
    import pyarrow.csv as pacsv

    spellings = pa.array(pacsv.ConvertOptions().null_values, pa.string())
    return pc.if_else(pc.is_in(column, value_set=spellings), pa.scalar(None, pa.string()), column)


def _casts(column: pa.ChunkedArray | pa.Array, to: pa.DataType) -> bool:
    try:
        pc.cast(column, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def infer_kind(column: pa.ChunkedArray | pa.Array) -> Kind | None:
    """The kind of a text column (nulls for missing values); None when every value is missing."""
    values = pc.drop_null(column)
    if len(values) == 0:
        return None
    if _casts(values, pa.int64()):
        return "int"
    if _casts(values, pa.float64()):
        return "float"
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    if pc.all(pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT)))).as_py():
        return "bool"
    return "string"


def numbers(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """A text column as float64 (NaN where missing or not a number), for locating the first bad value."""
    return pd.to_numeric(pd.Series(column.to_pandas()), errors="coerce")


def mostly_numbers(column: pa.ChunkedArray | pa.Array) -> int | None:
    """The first row that is not a number, when at least half of the column's values are numbers; else None."""
    text = pd.Series(column.to_pandas())
    present = text.notna()
    parsed = pd.to_numeric(text, errors="coerce")
    bad = present & parsed.isna()
    if not bad.any() or int((present & ~bad).sum()) * 2 < int(present.sum()):
        return None
    return int(np.flatnonzero(bad.to_numpy())[0])


def first_control_character(column: pa.ChunkedArray | pa.Array) -> int | None:
    """The first row whose text holds a control character (NUL, a line break; a tab is fine), or None."""
    hits = pc.fill_null(pc.match_substring_regex(column, "[\\x00-\\x08\\x0a-\\x1f]"), False)
    if not pc.any(hits).as_py():
        return None
    return int(np.flatnonzero(hits.to_numpy(zero_copy_only=False))[0])


def widest(kinds: Iterable[str | None]) -> Kind | None:
    """The one kind that holds values of all `kinds` (None entries: all-missing days, which fit any)."""
    seen = {k for k in kinds if k is not None}
    if not seen:
        return None
    if seen <= {"int"}:
        return "int"
    if seen <= set(NUMERIC_KINDS):
        return "float"
    if seen == {"bool"}:
        return "bool"
    return "string"


def to_series(column: pa.ChunkedArray | pa.Array, kind: str | None, name: str) -> pd.Series:
    """A column read as `read_type(kind)` (or as text), held as `kind` holds it (see the module docstring).

    Text that does not parse as a number for a numeric kind raises `pa.ArrowInvalid` (callers check first).
    """
    kind = kind or "float"
    if kind in NUMERIC_KINDS:
        array = column if pa.types.is_floating(column.type) else pc.cast(column, pa.float64())
        series = pd.Series(array.to_numpy(zero_copy_only=False), name=name, dtype="float64")
        if kind == "int" and not series.isna().any():
            return series.astype("int64")
        return series
    text = missing_as_null(column if pa.types.is_string(column.type) else pc.cast(column, pa.string()))
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    out = np.where(pd.isna(values), np.nan, values)
    if kind == "bool":
        # True/False as Python booleans; any other text stays as it is (a category the model never saw).
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        for word, flag in _BOOL_TEXT.items():
            hits = pc.fill_null(pc.equal(lowered, word), False).to_numpy(zero_copy_only=False)
            out[hits] = flag
    return pd.Series(out, name=name, dtype=object)


def frame_from_arrow(table: pa.Table | pa.RecordBatch, kinds: dict[str, str | None]) -> pd.DataFrame:
    """The columns `kinds` names, in that order, each held as its kind (`to_series`).

    Text columns may hold pyarrow's missing-value spellings (`missing_as_null`).
    """
    return pd.DataFrame(
        {name: to_series(table.column(name), kind, name) for name, kind in kinds.items()},
        columns=list(kinds),
    )


def conform(frame: pd.DataFrame, kinds: dict[str, str | None]) -> pd.DataFrame:
    """`frame` with every column held as its (widened) kind: text columns as `str` with NaN, numbers as floats.

    Used after days of different kinds are stacked (an `int` day with a `float` one, a `bool` day with
    a text one), so that the split files write and read back one kind per column.
    """
    out = {}
    for name, kind in kinds.items():
        series = frame[name]
        if kind in ("string",):
            present = series.notna()
            values = np.full(len(series), np.nan, dtype=object)
            values[present.to_numpy()] = [str(v) for v in series[present]]
            series = pd.Series(values, name=name, dtype=object, index=frame.index)
        elif kind == "float" and series.dtype != np.float64:
            series = series.astype("float64")
        out[name] = series
    return pd.DataFrame(out, index=frame.index)
