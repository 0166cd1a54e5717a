"""Validation at the boundary: a day's files are read once, checked completely, or refused with a fix.

Everything after this point (split, train, score) may assume float64 features without gaps and labels
of the right length, in the user's own values (integers, true/false or text: `label_values`). A bad
file must fail here, naming the file, the column and the first bad row, rather than as a NaN error
deep inside an estimator or, worse, as a silently poorer model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from retrain.data import TARGET
from retrain.data.csvfile import inspect_header, read_table
from retrain.data.errors import DataValidationError, shown

__all__ = [
    "DataValidationError",
    "check_features",
    "check_trainable",
    "read_features",
    "read_target",
    "validate_day",
]

_PROBLEMS = {
    "not_nullable": "missing value (an empty cell, an empty line or NaN)",
    "finite": "value {value} is not finite",
}


@lru_cache(maxsize=32)
def feature_schema(columns: tuple[str, ...]) -> pa.DataFrameSchema:
    """The contract of a feature frame: the named columns, float64, no missing values, all finite.

    Cached per column set: building a schema costs more than checking 100k rows with it.
    """
    return pa.DataFrameSchema(
        {name: pa.Column("float64", nullable=False, checks=pa.Check(np.isfinite, name="finite")) for name in columns},
        strict=False,
    )


def check_features(frame: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """Check `frame` against the feature schema, turning pandera's report into one actionable message.

    The first bad cell (lowest row, then leftmost column) is named; the rest are counted, so that one
    fix-and-rerun cycle shows how much is wrong.
    """
    schema = feature_schema(tuple(str(c) for c in frame.columns))
    try:
        return schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    order = {name: i for i, name in enumerate(frame.columns)}
    cells = cases[cases["index"].notna()].copy()
    if cells.empty:
        first = cases.iloc[0]
        raise DataValidationError.at(
            path,
            f"column check {first['check']!r} failed ({first['failure_case']})",
            fix="write only numbers in feature columns",
            column=str(first["column"]),
        ) from None
    cells["position"] = cells["column"].map(order)
    cells = cells.sort_values(["index", "position"], kind="stable")
    first = cells.iloc[0]
    problem = _PROBLEMS.get(str(first["check"]), f"failed check {first['check']!r} with {{value}}")
    problem = problem.format(value=first["failure_case"])
    others = len(cells) - 1
    if others:
        columns = sorted(set(cells["column"]), key=order.get)
        problem += f" (and {others} more bad cell(s) in column(s) {columns})"
    raise DataValidationError.at(
        path,
        problem,
        fix="fill or drop rows with missing or infinite values before landing the data",
        column=str(first["column"]),
        row=int(first["index"]),
    ) from None


def read_features(path: Path, expected_columns: list[str] | None = None) -> pd.DataFrame:
    """Read a day's `data.csv` into a float64 frame, or raise `DataValidationError` saying what to fix.

    With `expected_columns` (the features the model knows) the file may hold its columns in any order and
    extra columns: extras are dropped, never parsed, and the result is in `expected_columns` order. So a
    user's export with an id column or a reshuffled header still lands, while a missing feature does not.
    """
    path = Path(path)
    info = inspect_header(path, what="data file")
    header = info.names
    columns = header if expected_columns is None else list(expected_columns)
    if len(set(columns)) != len(columns):
        raise ValueError(f"expected_columns has duplicates: {columns}")
    missing = [c for c in columns if c not in header]
    if missing:
        # The header is quoted only when it shares a column with what was expected: the first line of a
        # file that is something else entirely (a system file behind a wrong path) is never repeated.
        found = _preview(header) if len(missing) < len(columns) else f"none of them ({len(header)} column(s))"
        raise DataValidationError.at(
            path,
            f"missing expected column(s) {missing[:12]}; the header has {found}",
            fix="add these columns (names are case-sensitive), or land data for the features the model uses",
            column=missing[0],
        )
    quote = info.plausible or expected_columns is not None
    table = read_table(path, info, dict.fromkeys(columns, pyarrow.float64()), quote=quote)
    if table.num_rows == 0:
        raise DataValidationError.at(
            path, "the file has a header but no data rows", fix="write at least one data row below the header"
        )
    frame = table.to_pandas()
    frame.columns = columns
    return check_features(frame, path)


def read_target(path: Path, expected_rows: int, *, data_path: Path | None = None) -> pd.Series:
    """Read a day's `target.csv` (a `target` column of labels) and check it matches the data.

    Labels keep the user's own values: integers (int64), `true`/`false` (bool) or text (`Adelie`, `yes`).

    A label file one row short would otherwise pair every label with the wrong row; the length check is
    what stops that. `data_path` is only used to name the other file in the message.
    """
    path = Path(path)
    info = inspect_header(path, what="target file")
    if TARGET not in info.names:
        found = _preview(info.names) if info.plausible else f"{len(info.names)} column(s), none of them {TARGET!r}"
        raise DataValidationError.at(
            path,
            f"no {TARGET!r} column; the header has {found}",
            fix=f"name the label column {TARGET!r} on the first line",
        )
    table = read_table(path, info, {TARGET: pyarrow.string()}, quote=True)
    column = missing_as_null(table.column(TARGET))
    if column.null_count:
        row = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
        raise DataValidationError.at(
            path,
            f"missing label (an empty line or NaN); {column.null_count} row(s) have none",
            fix="give every row a label, or drop the unlabelled rows from both data.csv and target.csv",
            column=TARGET,
            row=row,
        )
    if table.num_rows != expected_rows:
        other = data_path if data_path is not None else "the data file"
        raise DataValidationError.at(
            path,
            f"{table.num_rows} label(s) but {other} has {expected_rows} row(s)",
            fix="write exactly one label per data row, in the same order",
            column=TARGET,
        )
    return pd.Series(label_values(column, path), name=TARGET)


_BOOL_LABELS = {"true": True, "false": False}


def missing_as_null(column: pyarrow.ChunkedArray) -> pyarrow.ChunkedArray:
    """A text column with pyarrow's own missing-value spellings (``, `NaN`, `NA`, `null`, ...) as nulls.

    Read as text, pyarrow keeps an empty cell as `""`; a numeric read would have made it null.
    """
    import pyarrow.csv as pacsv

    spellings = pyarrow.array(pacsv.ConvertOptions().null_values, pyarrow.string())
    return pc.if_else(pc.is_in(column, value_set=spellings), pyarrow.scalar(None, pyarrow.string()), column)


def label_values(column: pyarrow.ChunkedArray, path: Path) -> np.ndarray:
    """The labels in the user's own values: integers (int64), true/false (bool), or text (str).

    A column mixing numbers with text, or holding a fraction, is refused at its first such value: a
    number among words (or `1.5` among integers) is far more often a broken export than a class.
    """
    text = column.to_pylist()
    try:
        return np.asarray(pc.cast(column, pyarrow.int64()).to_numpy(), dtype=np.int64)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
        pass
    lowered = [t.strip().lower() for t in text]
    if all(t in _BOOL_LABELS for t in lowered):
        return np.asarray([_BOOL_LABELS[t] for t in lowered], dtype=bool)

    def number(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    numbers = [number(t) for t in text]
    if any(numbers):
        row = next(i for i, t in enumerate(text) if not (numbers[i] and float(t).is_integer()))
        raise DataValidationError.at(
            path,
            f"label {text[row]!r} is not an integer, while other labels are numbers",
            fix="write labels as integers, as true/false, or as text with no number among them",
            column=TARGET,
            row=row,
        )
    return np.asarray(text, dtype=object)


def validate_day(
    data_path: Path, target_path: Path, expected_columns: list[str] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Read and check one day's features and labels together; nothing is written."""
    features = read_features(data_path, expected_columns)
    labels = read_target(target_path, len(features), data_path=Path(data_path))
    return features, labels


def check_trainable(y: pd.Series, where: str) -> None:
    """Refuse labels a classifier cannot learn from: fewer than two classes, or a class with one row.

    A single-class window makes every estimator fail (or worse, predict a constant that scores well on a
    single-class holdout), and a stratified split needs at least two rows of every class.
    """
    counts = pd.Series(y).value_counts().sort_index()
    shown = ", ".join(f"{label}: {count}" for label, count in counts.items()) or "no rows"
    if len(counts) < 2:
        raise DataValidationError(
            f"{where}: the labels have fewer than two classes ({shown}); a classifier needs at least two. "
            "Fix: widen the window (RETRAIN_WINDOW_DAYS) or check the labels of these days."
        )
    rare = [label for label, count in counts.items() if count < 2]
    if rare:
        raise DataValidationError(
            f"{where}: class(es) {rare} have a single row ({shown}); a stratified split needs at least two rows "
            "per class. Fix: widen the window (RETRAIN_WINDOW_DAYS) or drop or merge the rare class."
        )


def _preview(names: list[str], limit: int = 12) -> str:
    listed = ", ".join(shown(n) for n in names[:limit])
    return f"[{listed}{', ...' if len(names) > limit else ''}] ({len(names)} column(s))"


def explain_unscorable(path: Path, columns: list[str], error: BaseException) -> DataValidationError:
    """Why a features file cannot be scored, as precisely as the data stage can say it.

    The streaming scorer stops at the first thing it cannot read, but pyarrow's messages lack the
    row (truncated lines) or the file (undecodable bytes). This reads the file once more with the
    data stage's reader, which names the file, the column and the first bad row; only called on the
    failure path, so a good file never pays for it.
    """
    try:
        read_features(Path(path), expected_columns=list(columns))
    except DataValidationError as exc:
        return exc
    except (OSError, ValueError) as exc:  # e.g. expected_columns with duplicates: keep the first error
        error = exc if isinstance(error, DataValidationError) else error
    if isinstance(error, DataValidationError):
        return error
    return DataValidationError.at(path, str(error), fix="check the file against the model's feature columns")
