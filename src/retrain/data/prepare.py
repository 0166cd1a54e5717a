"""The training window, the fresh holdout days, and the train/validation split.

The gate compares challenger and champion on the same validation rows, so those rows decide deploys.
They must be rows neither model trained on, drawn from the most recent days (the world the model will
serve), and the same on every rerun (a decision that cannot be reproduced cannot be audited).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow

from retrain.data import TARGET
from retrain.data.csvfile import read_header, read_table, write_csv
from retrain.data.errors import DataValidationError
from retrain.data.kinds import conform, frame_from_arrow, missing_as_null, read_type, widest
from retrain.data.validate import check_features, check_trainable, label_values
from retrain.io import read_json, write_json
from retrain.layout import SPLIT_KINDS, Layout, check_ds

DS = "ds"


def training_window(labelled_days: list[str], ds: str, window_days: int) -> list[str]:
    """The last `window_days` labelled days up to and including `ds`, oldest first.

    The window is counted in labelled days, not calendar days: labels may arrive days after their
    features (and a source may skip weekends), so the newest days of a calendar window often have no
    labels yet; counting labelled days keeps every retrain's window the same size. `ds` itself need
    not be labelled: the window then ends at the newest day whose labels have arrived.

    Raises:
        FileNotFoundError: no day up to `ds` has its labels yet.
    """
    check_ds(ds)
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    days = sorted({d for d in labelled_days if d <= ds})
    if not days:
        raise FileNotFoundError(
            f"no labelled day up to {ds}: raw/{{day}}/ must hold data.csv and target.csv for at least one day; "
            f"run the generate_data DAG (retrain run generate_data --date {ds}) and wait for the labels to land"
        )
    return days[-window_days:]


def fresh_days(window: list[str], holdout_days: int, champion_window_end: str | None) -> list[str]:
    """The days of `window` whose rows may be used to validate, oldest first.

    The gate scores the champion on the validation rows too, so they must be data the champion never
    saw: a champion scored on its own training rows looks better than it is and would block every
    challenger. So the holdout comes only from days strictly after the champion's window end, at most the
    last `holdout_days` of them (recent data, since that is what the model will serve). With no champion,
    it is the last `holdout_days` days. If the champion has seen every day (a rerun on the same date), the
    last day is used anyway: a comparison slightly in the champion's favour beats no comparison, and the
    gate's minimum improvement still applies.
    """
    if holdout_days < 1:
        raise ValueError(f"holdout_days must be at least 1, got {holdout_days}")
    if not window:
        raise ValueError("the training window is empty: no landed days to hold out")
    days = sorted(window)
    unseen = [d for d in days if champion_window_end is None or d > champion_window_end]
    return unseen[-holdout_days:] or days[-1:]


def split_window(
    frames: dict[str, tuple[pd.DataFrame, pd.Series]],
    fresh: list[str],
    holdout_fraction: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a window's rows into train and validation frames (features, `target`, `ds`).

    Train gets every row of the older days and `1 - holdout_fraction` of the fresh days' rows; validation
    gets the rest of the fresh rows, sampled with a fixed seed and stratified by label, so that the class
    balance of the holdout matches the fresh data and a rerun picks exactly the same rows. A class with a
    single fresh row goes to train (it cannot be split by class). Rows keep their day order inside each
    frame.

    Raises:
        DataValidationError: the fresh rows cannot be split by class, or train ends up with one class.
    """
    from sklearn.model_selection import train_test_split  # sklearn costs seconds to import; only here

    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1 (exclusive), got {holdout_fraction}")
    days = sorted(frames)
    fresh_set = set(fresh)
    unknown = sorted(fresh_set - set(frames))
    if unknown or not fresh_set:
        raise ValueError(f"fresh days {unknown or fresh} are not in the window {days}")
    columns = _common_columns(frames)
    older = [_tagged(frames, d, columns) for d in days if d not in fresh_set]
    recent = pd.concat([_tagged(frames, d, columns) for d in days if d in fresh_set], ignore_index=True)
    where = f"fresh days {sorted(fresh_set)}"
    # A class with one fresh row (a new class's first label) cannot be split by class: it is trained on,
    # and the holdout is drawn from the other rows, so one such row never blocks a retrain.
    counts = recent[TARGET].value_counts()
    single = recent[TARGET].isin(counts.index[counts < 2]).to_numpy()
    split_rows = np.flatnonzero(~single)
    check_trainable(recent[TARGET].iloc[split_rows], where)
    try:
        train_rows, val_rows = train_test_split(
            split_rows, test_size=holdout_fraction, stratify=recent[TARGET].iloc[split_rows], random_state=seed
        )
    except ValueError as exc:
        raise DataValidationError(
            f"{where}: cannot hold out {holdout_fraction:.0%} of {len(recent)} row(s) by class ({exc}). "
            "Fix: raise RETRAIN_HOLDOUT_DAYS or RETRAIN_ROWS_PER_DAY, or change RETRAIN_HOLDOUT_FRACTION."
        ) from None
    val = recent.iloc[np.sort(val_rows)].reset_index(drop=True)
    train = pd.concat([*older, recent.iloc[np.sort([*train_rows, *np.flatnonzero(single)])]], ignore_index=True)
    # Days may differ in kind (an int day and a float day, a bool day and a text day): one kind per column.
    window_kinds = split_kinds(pd.concat([train[columns], val[columns]], ignore_index=True))
    train = pd.concat([conform(train[columns], window_kinds), train[[TARGET, DS]]], axis=1)
    val = pd.concat([conform(val[columns], window_kinds), val[[TARGET, DS]]], axis=1)
    check_trainable(train[TARGET], f"training rows of days {days}", stratified=False)
    return train, val


def split_kinds(features: pd.DataFrame) -> dict[str, str]:
    """The kind of each feature column of a frame held as `retrain.data.kinds` holds them."""
    out = {}
    for name in features.columns:
        series = features[name]
        if pd.api.types.is_integer_dtype(series.dtype):
            out[str(name)] = "int"
        elif pd.api.types.is_float_dtype(series.dtype):
            out[str(name)] = "float"
        else:
            present = series.dropna()
            out[str(name)] = "bool" if len(present) and all(isinstance(v, bool) for v in present) else "string"
    return out


def present_kinds(features: pd.DataFrame) -> dict[str, str | None]:
    """`split_kinds`, with None for a column holding no value at all (it fits any kind)."""
    return {c: (k if features[c].notna().any() else None) for c, k in split_kinds(features).items()}


def window_kinds(frames: dict[str, tuple[pd.DataFrame, pd.Series]]) -> dict[str, str]:
    """The widest kind of each feature column over a window's days (`retrain.data.kinds.widest`)."""
    per_day = [present_kinds(features) for features, _ in frames.values()]
    columns = [str(c) for c in next(iter(frames.values()))[0].columns]
    return {c: widest(day.get(c) for day in per_day) or "float" for c in columns}


def fits_kinds(features: pd.DataFrame, kinds: dict[str, str]) -> bool:
    """Whether every column of a day was read as `kinds` says (or holds no value, or is a number widened)."""
    for name, kind in present_kinds(features).items():
        wanted = kinds.get(name)
        if kind is not None and kind != wanted and not (kind == "int" and wanted == "float"):
            return False
    return True


def write_split(layout: Layout, ds: str, train: pd.DataFrame, val: pd.DataFrame) -> tuple[Path, Path]:
    """Write `processed/{ds}/train.csv`, `val.csv` and the columns' kinds atomically, byte-identical on a rerun."""
    features = [c for c in train.columns if c not in (TARGET, DS)]
    write_json(layout.split_kinds_file(ds), {"kinds": split_kinds(pd.concat([train[features], val[features]]))})
    return write_csv(layout.train_file(ds), train), write_csv(layout.val_file(ds), val)


def read_split(path: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Read a `train.csv` or `val.csv` back as (features, labels, day of each row).

    The features are read as the kinds written beside the split (`Layout.split_kinds_file`); a split
    written before kinds were recorded is read as numbers.
    """
    path = Path(path)
    header = read_header(path, what="split file")
    missing = [c for c in (TARGET, DS) if c not in header]
    if missing:
        raise DataValidationError.at(
            path, f"missing column(s) {missing}", fix="rewrite the split with write_split (rerun split_data)"
        )
    features = [c for c in header if c not in (TARGET, DS)]
    kinds_file = path.parent / SPLIT_KINDS
    known = read_json(kinds_file)["kinds"] if kinds_file.is_file() else {}
    kinds = {name: known.get(name, "float") for name in features}
    types = {**{n: read_type(k) for n, k in kinds.items()}, TARGET: pyarrow.string(), DS: pyarrow.string()}
    table = read_table(path, header, types)
    X = check_features(frame_from_arrow(table, kinds), path)
    frame = {DS: table.column(DS).to_pandas()}
    # Labels as the day files held them (integers, true/false or text), read with the same rule.
    labels = pd.Series(label_values(missing_as_null(table.column(TARGET)), path), name=TARGET)
    return X, labels, frame[DS].astype(str)


def _common_columns(frames: dict[str, tuple[pd.DataFrame, pd.Series]]) -> list[str]:
    """The feature columns every day shares, in the first day's order; a day that differs is named."""
    days = sorted(frames)
    columns = [str(c) for c in frames[days[0]][0].columns]
    clash = [c for c in columns if c in (TARGET, DS)]
    if clash:
        raise ValueError(f"feature columns must not be named {clash}: those names are reserved in split files")
    for day in days[1:]:
        other = [str(c) for c in frames[day][0].columns]
        if set(other) != set(columns):
            raise ValueError(
                f"day {day} has features {sorted(set(other) ^ set(columns))} that day {days[0]} "
                "does not share (or the reverse); read every day with the same expected_columns"
            )
    return columns


def _tagged(frames: dict[str, tuple[pd.DataFrame, pd.Series]], day: str, columns: list[str]) -> pd.DataFrame:
    features, labels = frames[day]
    if len(features) != len(labels):
        raise ValueError(f"day {day}: {len(features)} feature row(s) but {len(labels)} label(s)")
    out = features[columns].reset_index(drop=True)  # each column keeps its kind (`retrain.data.kinds`)
    out[TARGET] = np.asarray(labels)  # the user's own label values
    out[DS] = day
    return out


def shared_columns(layout: Layout, days: list[str]) -> list[str]:
    """The data columns every one of `days` holds, in the first day's order (headers only are read).

    Days may hold extra columns or reorder them (`generate_data` accepts both): the features are what
    they all share, and a day is then read by name (`read_features(path, expected_columns=...)`).
    """
    headers = [read_header(layout.raw_data(day), what="data file") for day in days]
    common = set(headers[0]).intersection(*headers[1:])
    return [name for name in headers[0] if name in common]
