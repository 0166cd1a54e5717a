"""Validation at the boundary: a day's files are read once, checked completely, or refused with a fix.

Everything after this point (split, train, score) may assume typed feature columns (`int`, `float`,
`string`, `bool`, missing values as NaN; `retrain.data.kinds`), finite numbers, and labels of the right
length, in the user's own values (integers, true/false or text: `label_values`). A bad file must fail
here, naming the file, the column and the first bad row, rather than as an error deep inside an
estimator or, worse, as a silently poorer model.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from retrain.data import TARGET
from retrain.data import kinds as kinds_
from retrain.data.csvfile import inspect_header, read_table
from retrain.data.errors import DataValidationError, shown
from retrain.data.kinds import missing_as_null

__all__ = [
    "DataValidationError",
    "check_features",
    "check_trainable",
    "read_features",
    "read_target",
    "validate_day",
]


def check_features(frame: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """Refuse a non-finite number (`inf`) in a numeric column, naming the first such cell; `frame` otherwise.

    Missing values (NaN) are accepted in every column: the model's preprocessing handles them
    (`retrain.model.preprocess`). The first bad cell (lowest row, then leftmost column) is named; the
    rest are counted, so that one fix-and-rerun cycle shows how much is wrong.
    """
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]
    if not numeric:
        return frame
    values = frame[numeric].to_numpy(dtype=np.float64)
    bad = np.isinf(values)
    if not bad.any():
        return frame
    row, col = (int(v) for v in np.argwhere(bad)[0])
    problem = f"value {values[row, col]} is not finite"
    others = int(bad.sum()) - 1
    if others:
        columns = [numeric[j] for j in sorted(set(np.argwhere(bad)[:, 1]))]
        problem += f" (and {others} more bad cell(s) in column(s) {columns})"
    raise DataValidationError.at(
        path,
        problem,
        fix="replace infinite values (leave the cell empty for a missing value) before landing the data",
        column=str(numeric[col]),
        row=row,
    )


def _not_a_number(path: Path, name: str, column: pyarrow.ChunkedArray, row: int, why: str) -> DataValidationError:
    value = column[row].as_py()
    return DataValidationError.at(
        path,
        f"value {shown(value)} is not a number ({why})",
        fix="write only numbers in this column, and leave a cell empty for a missing value; a column of "
        "categories must hold text that is not a number in most rows",
        column=name,
        row=row,
    )


def read_features(
    path: Path, expected_columns: list[str] | None = None, kinds: dict[str, str] | None = None
) -> pd.DataFrame:
    """Read a day's `data.csv` into a frame of typed columns, or raise `DataValidationError` saying what to fix.

    Every value is read as text, then each column is held as its kind (`retrain.data.kinds`): `int`,
    `float`, `string` or `bool`, missing values as NaN. With `kinds` (what earlier days, or the model,
    hold in these columns) a column is read as that kind, widened where the day allows it (floats
    where integers were seen, text where booleans were); a numeric column whose day holds a value that
    is not a number is refused at its first such row. Without `kinds`, each column's kind is inferred;
    a column of mostly numbers with a few words is refused at the first word (a broken export).

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
    if expected_columns is None and not info.plausible:  # a first day's columns may become text features
        raise DataValidationError.at(
            path,
            "the first line does not look like a header of column names (a file that is not a data export?)",
            fix="land a UTF-8 CSV whose first line names the columns (letters, digits, spaces and ._-()%/)",
        )
    table = read_table(path, info, dict.fromkeys(columns, pyarrow.string()), quote=quote)
    if table.num_rows == 0:
        raise DataValidationError.at(
            path, "the file has a header but no data rows", fix="write at least one data row below the header"
        )
    frame = {}
    for name in columns:
        column = missing_as_null(table.column(name))
        found = kinds_.infer_kind(column)
        known = (kinds or {}).get(name)
        if known in kinds_.NUMERIC_KINDS and found not in (None, *kinds_.NUMERIC_KINDS):
            bad = kinds_.numbers(column).isna() & pd.Series(column.to_pandas()).notna()
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise _not_a_number(path, name, column, row, f"earlier days hold {known} values in this column")
        if known is None and found == "string" and (row := kinds_.mostly_numbers(column)) is not None:
            raise _not_a_number(path, name, column, row, "the other values of this column are numbers")
        kind = kinds_.widest([known, found]) if known is not None else found
        if kind in ("string", "bool") and (row := kinds_.first_control_character(column)) is not None:
            raise DataValidationError.at(
                path,
                "a value holds a NUL byte or a line break (a binary file, or a quote left open)",
                fix="close every quote, and write categories as plain text on one line",
                column=name if quote else None,
                row=row,
            )
        frame[name] = kinds_.to_series(column, kind, name)
    return check_features(pd.DataFrame(frame, columns=columns), path)


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
            fix=f"name the label column {TARGET!r} on the first line (a folder's target files always use "
            "that name; RETRAIN_LABEL_COLUMN picks the label column of a database source)",
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


def label_set(path: Path) -> set[str]:
    """The distinct labels of a landed `target.csv`, as text (missing ones left out)."""
    path = Path(path)
    info = inspect_header(path, what="target file")
    column = missing_as_null(read_table(path, info, {TARGET: pyarrow.string()}, quote=True).column(TARGET))
    return {str(v).strip() for v in pc.unique(pc.drop_null(column)).to_pylist()}


_BOOL_LABELS = {"true": True, "false": False}


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
        fix = "write labels as integers, as true/false, or as text with no number among them"
        if sum(numbers) * 2 < len(numbers):  # mostly words: the number is the odd one out
            row = numbers.index(True)
            problem = f"label {text[row]!r} is a number, while the other labels are text"
        else:
            row = next(i for i, t in enumerate(text) if not (numbers[i] and float(t).is_integer()))
            problem = f"label {text[row]!r} is not an integer, while other labels are numbers"
        raise DataValidationError.at(path, problem, fix=fix, column=TARGET, row=row)
    return np.asarray(text, dtype=object)


RECENT_DAYS_CELLS = 2_000_000
"""Cells (rows × columns) of validated days `validate_day` keeps for the next read of the same files.

A retrain validates its window in one task and reads it again in the next (`split_data`); in one
process (`retrain run`, the demo) the second read reuses the first while the files are unchanged
(~0.2 s of a 14-day window of 2,000-row days on this machine). A window larger than this is read twice
as before: memory stays bounded (~16 MB of numbers; text cells more)."""

_recent: OrderedDict[tuple[Any, ...], tuple[pd.DataFrame, pd.Series]] = OrderedDict()


def _file_identity(path: Path) -> tuple[Any, ...]:
    """What changes when a file is rewritten: an atomic write is a new inode, an edit a new mtime or size."""
    found = Path(path).stat()
    return str(path), found.st_ino, found.st_size, found.st_mtime_ns


def validate_day(
    data_path: Path, target_path: Path, expected_columns: list[str] | None = None, kinds: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Read and check one day's features and labels together (`read_features`); nothing is written.

    Returns a fresh copy for each call; unchanged files validated lately in this process are not read
    again (`RECENT_DAYS_CELLS`). Raises what `read_features` and `read_target` raise.
    """
    try:
        key: tuple[Any, ...] | None = (
            _file_identity(data_path),
            _file_identity(target_path),
            None if expected_columns is None else tuple(expected_columns),
            None if kinds is None else tuple(sorted(kinds.items())),
        )
    except OSError:  # a missing file: the readers say which, and how to fix it
        key = None
    if key in _recent:
        _recent.move_to_end(key)
        features, labels = _recent[key]
        return features.copy(), labels.copy()
    features = read_features(data_path, expected_columns, kinds)
    labels = read_target(target_path, len(features), data_path=Path(data_path))
    if key is not None:
        _remember(key, features, labels)
    return features, labels


def _remember(key: tuple[Any, ...], features: pd.DataFrame, labels: pd.Series) -> None:
    """Keep copies of a validated day, the oldest days dropped past `RECENT_DAYS_CELLS` (a bigger day is not kept)."""
    cells = features.size + len(labels)
    if cells > RECENT_DAYS_CELLS:
        return
    _recent[key] = (features.copy(), labels.copy())
    while sum(f.size + len(y) for f, y in _recent.values()) > RECENT_DAYS_CELLS:
        _recent.popitem(last=False)


def check_trainable(y: pd.Series, where: str, *, stratified: bool = True) -> None:
    """Refuse labels a classifier cannot learn from: fewer than two classes, or (to be split by class,
    `stratified`) a class with one row.

    A single-class window makes every estimator fail (or worse, predict a constant that scores well on a
    single-class holdout), and a stratified split needs at least two rows of every class; a class with
    one row can still be trained on.
    """
    counts = pd.Series(y).value_counts().sort_index()
    shown = ", ".join(f"{label}: {count}" for label, count in counts.items()) or "no rows"
    if len(counts) < 2:
        raise DataValidationError(
            f"{where}: the labels have fewer than two classes ({shown}); a classifier needs at least two. "
            "Fix: widen the window (RETRAIN_WINDOW_DAYS) or check the labels of these days."
        )
    rare = [label for label, count in counts.items() if count < 2]
    if rare and stratified:
        raise DataValidationError(
            f"{where}: class(es) {rare} have a single row ({shown}); a stratified split needs at least two rows "
            "per class. Fix: widen the window (RETRAIN_WINDOW_DAYS) or drop or merge the rare class."
        )


def _preview(names: list[str], limit: int = 12) -> str:
    listed = ", ".join(shown(n) for n in names[:limit])
    return f"[{listed}{', ...' if len(names) > limit else ''}] ({len(names)} column(s))"


def explain_unscorable(
    path: Path, columns: list[str], error: BaseException, kinds: dict[str, str] | None = None
) -> DataValidationError:
    """Why a features file cannot be scored, as precisely as the data stage can say it.

    The streaming scorer stops at the first thing it cannot read, but pyarrow's messages lack the
    row (truncated lines) or the file (undecodable bytes). This reads the file once more with the
    data stage's reader, which names the file, the column and the first bad row; only called on the
    failure path, so a good file never pays for it.
    """
    try:
        read_features(Path(path), expected_columns=list(columns), kinds=kinds)
    except DataValidationError as exc:
        return exc
    except (OSError, ValueError) as exc:  # e.g. expected_columns with duplicates: keep the first error
        error = exc if isinstance(error, DataValidationError) else error
    if isinstance(error, DataValidationError):
        return error
    return DataValidationError.at(path, str(error), fix="check the file against the model's feature columns")
