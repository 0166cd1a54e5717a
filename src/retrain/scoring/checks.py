"""Checks on the values the scorer streams: the model's columns present, every number finite.

A model trained on numbers only, none missing, gets float64 matrices and every value must be a
number; a model that takes text, booleans or missing values (`retrain.model.preprocess`) gets typed
DataFrames (`to_frame`) in which only the numeric columns are checked (finite or missing).

Shared by the CSV and Parquet readers of `retrain.scoring.readers`; each error is a `BadDataError`
(`ScoringInputError`) naming the file, the column and the 0-based input row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retrain.data.csvfile import check_unique
from retrain.scoring import ScoringInputError


def check_columns(available: Sequence[str], needed: Sequence[str], path: Path) -> None:
    """Every feature column must be present; names must be unique; extra columns are fine, order is irrelevant."""
    check_unique(available, path)
    present = set(available)
    missing = [name for name in needed if name not in present]
    if missing:
        listed = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ScoringInputError.at(
            path,
            f"missing column(s) {listed} that the model needs "
            f"(the model uses {len(needed)} columns; the file has {len(available)})",
            fix="add these columns (names are case-sensitive), or score with the model these columns fit",
            column=missing[0],
        )


def first_bad_row(values: pa.Array) -> int | None:
    """Index of the first value that does not convert to float64 (binary search on casts), or None."""

    def converts(array: pa.Array) -> bool:
        try:
            pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if converts(values):
        return None
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if converts(values.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    return lo


def not_a_number(path: Path, column: str, row: int | None, detail: str = "") -> ScoringInputError:
    """The error for a value of `column` that is not a number (`row` None when it could not be located)."""
    return ScoringInputError.at(
        path,
        f"column {column!r} has a non-numeric value{detail}; the model needs numbers",
        fix="write only numbers in the model's columns (encode categories as numbers first)",
        column=column,
        row=row,
    )


def missing_value(path: Path, column: str, row: int) -> ScoringInputError:
    """The error for an empty cell, an empty line, NA or NaN in `column` at input row `row`."""
    return ScoringInputError.at(
        path,
        f"column {column!r} has a missing value (an empty cell, an empty line, NA or NaN); "
        "the model needs a number in every row",
        fix="fill or drop rows with missing values before scoring",
        column=column,
        row=row,
    )


def check_nulls(batch: pa.RecordBatch, columns: Sequence[str], first_row: int, path: Path) -> None:
    """Refuse the first missing value of `batch` (whose first row is input row `first_row`)."""
    for j, name in enumerate(columns):
        array = batch.column(j)
        if array.null_count:
            row = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
            raise missing_value(path, name, first_row + row)


def to_matrix(batches: list[pa.RecordBatch], columns: Sequence[str], first_row: int, path: Path) -> np.ndarray:
    """One C-ordered float64 matrix from record batches, checked finite."""
    rows = sum(b.num_rows for b in batches)
    matrix = np.empty((rows, len(columns)), dtype=np.float64)
    offset = 0
    for batch in batches:
        size = batch.num_rows
        for j in range(len(columns)):
            matrix[offset : offset + size, j] = batch.column(j).to_numpy(zero_copy_only=False)
        offset += size
    if not np.isfinite(matrix).all():
        bad_row, bad_col = (int(v) for v in np.argwhere(~np.isfinite(matrix))[0])
        raise ScoringInputError.at(
            path,
            f"column {columns[bad_col]!r} has a non-finite value ({matrix[bad_row, bad_col]}); "
            "the model needs finite numbers",
            fix="replace infinite values before scoring",
            column=columns[bad_col],
            row=first_row + bad_row,
        )
    return matrix


def to_frame(batches: list[pa.RecordBatch], kinds: dict[str, str], first_row: int, path: Path) -> pd.DataFrame:
    """One DataFrame from record batches, each column held as its kind (`retrain.data.kinds`), numbers checked finite.

    Missing values are kept (NaN): the model's preprocessing handles them.
    """
    from retrain.data.kinds import frame_from_arrow

    frame = frame_from_arrow(pa.Table.from_batches(batches), kinds)
    for j, (name, kind) in enumerate(kinds.items()):
        if kind in ("int", "float"):
            values = frame.iloc[:, j].to_numpy(dtype=np.float64)
            if np.isinf(values).any():
                row = int(np.flatnonzero(np.isinf(values))[0])
                raise ScoringInputError.at(
                    path,
                    f"column {name!r} has a non-finite value ({values[row]}); the model needs finite numbers",
                    fix="replace infinite values before scoring (leave the cell empty for a missing value)",
                    column=name,
                    row=first_row + row,
                )
    return frame


def matrices(
    batches: Iterator[pa.RecordBatch],
    columns: Sequence[str],
    batch_rows: int,
    *,
    first_row: int,
    path: Path,
    kinds: dict[str, str] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Regroup small record batches into (first row index, matrix of `batch_rows` rows); the last may be short.

    With `kinds` (a model that takes text, booleans or missing values) each batch is a DataFrame of
    typed columns (`to_frame`) instead of a float64 matrix.
    """

    def build(pending: list[pa.RecordBatch], row: int) -> Any:
        return to_matrix(pending, columns, row, path) if kinds is None else to_frame(pending, kinds, row, path)

    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    pending: list[pa.RecordBatch] = []
    held = 0
    row = first_row
    for batch in batches:
        while batch.num_rows:
            take = min(batch_rows - held, batch.num_rows)
            pending.append(batch.slice(0, take) if take < batch.num_rows else batch)
            held += take
            batch = batch.slice(take)
            if held == batch_rows:
                yield row, build(pending, row)
                row += held
                pending, held = [], 0
    if held:
        yield row, build(pending, row)
