"""The training window, the fresh holdout days and the split that decides every deploy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.data.errors import DataValidationError
from retrain.data.prepare import fresh_days, read_split, split_window, training_window, write_split
from retrain.layout import Layout

DAYS = [f"2025-12-{d:02d}" for d in range(1, 21)]


def _frames(days: list[str], rows: int = 100, positive: float = 0.3) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """Days whose rows carry a unique id in `f00`, so train/val overlap can be checked."""
    frames = {}
    for n, day in enumerate(days):
        ids = n * 1000 + np.arange(rows, dtype="float64")
        noise = np.random.default_rng(n).normal(size=rows).round(6)
        labels = (np.arange(rows) < round(rows * positive)).astype("int64")
        frames[day] = (pd.DataFrame({"f00": ids, "f01": noise}), pd.Series(labels, name="target"))
    return frames


# --- training_window ----------------------------------------------------------------------------


def test_window_holds_the_last_labelled_days_up_to_ds() -> None:
    assert training_window(DAYS, "2025-12-14", 5) == DAYS[9:14]
    assert training_window(DAYS, "2025-12-14", 1) == ["2025-12-14"]
    assert training_window(DAYS, "2025-12-03", 14) == DAYS[:3]


def test_window_is_counted_in_labelled_days_whatever_the_gaps() -> None:
    labelled = ["2025-12-01", "2025-12-05", "2025-12-07", "2025-12-09", "2025-12-10", "2025-12-12"]
    # 4 labelled days up to 12-10, however far back they reach; 12-12 is after ds
    assert training_window(labelled, "2025-12-10", 4) == ["2025-12-05", "2025-12-07", "2025-12-09", "2025-12-10"]
    # ds's own labels have not arrived: the window ends at the newest labelled day before it
    assert training_window(labelled, "2025-12-11", 2) == ["2025-12-09", "2025-12-10"]


def test_window_is_sorted_and_unique_whatever_the_input_order() -> None:
    assert training_window(["2025-12-03", "2025-12-01", "2025-12-03", "2025-12-02"], "2025-12-03", 3) == DAYS[:3]


def test_window_refuses_when_no_day_is_labelled_yet() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        training_window(DAYS[9:], "2025-12-09", 7)
    assert "no labelled day up to 2025-12-09" in str(caught.value)
    assert "generate_data" in str(caught.value)


def test_window_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window_days"):
        training_window(DAYS, "2025-12-10", 0)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        training_window(DAYS, "10.12.2025", 3)


# --- fresh_days -------------------------------------------------------------------------------------


def test_without_a_champion_the_last_days_are_fresh() -> None:
    assert fresh_days(DAYS[:14], 7, None) == DAYS[7:14]


def test_fresh_days_are_only_days_the_champion_never_saw() -> None:
    window = DAYS[:14]
    assert fresh_days(window, 7, "2025-12-11") == ["2025-12-12", "2025-12-13", "2025-12-14"]


def test_fresh_days_are_capped_to_the_holdout() -> None:
    assert fresh_days(DAYS[:14], 2, "2025-12-01") == ["2025-12-13", "2025-12-14"]
    assert fresh_days(DAYS[5:14], 3, "2025-11-01") == DAYS[11:14]  # champion older than the window


def test_the_last_day_is_fresh_even_if_the_champion_saw_everything() -> None:
    assert fresh_days(DAYS[:14], 7, "2025-12-14") == ["2025-12-14"]
    assert fresh_days(DAYS[:14], 7, "2025-12-31") == ["2025-12-14"]


def test_a_holdout_longer_than_the_window_takes_the_whole_window() -> None:
    assert fresh_days(DAYS[:3], 7, None) == DAYS[:3]


def test_fresh_days_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        fresh_days([], 7, None)
    with pytest.raises(ValueError, match="holdout_days"):
        fresh_days(DAYS, 0, None)


# --- split_window -----------------------------------------------------------------------------------


def test_split_trains_on_old_days_and_part_of_the_fresh_ones() -> None:
    frames = _frames(DAYS[:6])
    fresh = DAYS[4:6]
    train, val = split_window(frames, fresh, holdout_fraction=0.5, seed=42)
    assert list(train.columns) == ["f00", "f01", "target", "ds"]
    assert list(val.columns) == ["f00", "f01", "target", "ds"]
    assert len(val) == 100  # half of the 200 fresh rows
    assert len(train) == 400 + 100
    assert set(val["ds"]) == set(fresh)
    assert set(train["ds"]) == set(DAYS[:6])
    assert train["ds"].tolist() == sorted(train["ds"])  # rows keep day order
    assert not set(train["f00"]) & set(val["f00"])  # no row in both
    assert sorted([*train["f00"], *val["f00"]]) == sorted(np.concatenate([f[0]["f00"] for f in frames.values()]))
    assert all(isinstance(value, str) for value in val["ds"])


def test_split_is_stratified() -> None:
    frames = _frames(DAYS[:3], rows=200, positive=0.1)
    _, val = split_window(frames, DAYS[1:3], holdout_fraction=0.25, seed=3)
    assert len(val) == 100
    assert val["target"].sum() == 10  # exactly 10% positives, as in the fresh rows


def test_a_new_class_with_one_fresh_row_is_trained_on_not_a_blocked_retrain() -> None:
    # given: a new class whose first (and only) label landed on a fresh day
    frames = {ds: (features, labels.astype(str)) for ds, (features, labels) in _frames(DAYS[:4]).items()}
    features, labels = frames[DAYS[3]]
    labels.iloc[0] = "new"
    # when: the window is split / then that row is trained on, and the holdout is drawn from the others
    train, val = split_window(frames, DAYS[2:4], 0.5, seed=1)
    assert (train["target"] == "new").sum() == 1 and "new" not in set(val["target"])
    assert len(train) + len(val) == 400 and len(val) == 100  # half of the 199 other fresh rows, rounded up
    assert train["ds"].tolist() == sorted(train["ds"])


def test_split_is_reproducible_and_depends_on_the_seed() -> None:
    frames = _frames(DAYS[:4])
    first = split_window(frames, DAYS[2:4], 0.5, seed=1)
    second = split_window(frames, DAYS[2:4], 0.5, seed=1)
    other = split_window(frames, DAYS[2:4], 0.5, seed=2)
    pd.testing.assert_frame_equal(first[1], second[1])
    pd.testing.assert_frame_equal(first[0], second[0])
    assert first[1]["f00"].tolist() != other[1]["f00"].tolist()


def test_a_window_of_only_fresh_days_trains_on_the_rest_of_them() -> None:
    frames = _frames(DAYS[:2])
    train, val = split_window(frames, DAYS[:2], 0.3, seed=0)
    assert len(train) + len(val) == 200
    assert len(val) == 60
    assert not set(train["f00"]) & set(val["f00"])


def test_split_refuses_single_class_fresh_days() -> None:
    frames = _frames(DAYS[:3])
    frames[DAYS[2]] = (frames[DAYS[2]][0], pd.Series(np.ones(100, dtype="int64"), name="target"))
    with pytest.raises(DataValidationError, match=r"fresh days \['2025-12-03'\].*fewer than two classes"):
        split_window(frames, [DAYS[2]], 0.5, seed=0)


def test_split_refuses_fresh_days_outside_the_window() -> None:
    with pytest.raises(ValueError, match="2025-12-09"):
        split_window(_frames(DAYS[:3]), ["2025-12-09"], 0.5, seed=0)


def test_split_refuses_days_with_different_features() -> None:
    frames = _frames(DAYS[:2])
    frames[DAYS[1]] = (frames[DAYS[1]][0].rename(columns={"f01": "f02"}), frames[DAYS[1]][1])
    with pytest.raises(ValueError, match="2025-12-02"):
        split_window(frames, [DAYS[1]], 0.5, seed=0)


def test_split_refuses_a_holdout_too_small_for_the_classes() -> None:
    frames = _frames([DAYS[0]], rows=4, positive=0.5)
    with pytest.raises(DataValidationError, match="RETRAIN_HOLDOUT"):
        split_window(frames, [DAYS[0]], 0.1, seed=0)


# --- write_split / read_split -------------------------------------------------------------------


def test_split_files_round_trip_and_are_byte_identical_on_rerun(tmp_path) -> None:
    layout = Layout(tmp_path)
    train, val = split_window(_frames(DAYS[:3]), DAYS[2:3], 0.5, seed=0)
    train_path, val_path = write_split(layout, "2025-12-03", train, val)
    assert (train_path, val_path) == (layout.train_file("2025-12-03"), layout.val_file("2025-12-03"))
    assert train_path.read_text().splitlines()[0] == "f00,f01,target,ds"
    first = train_path.read_bytes(), val_path.read_bytes()
    write_split(layout, "2025-12-03", *split_window(_frames(DAYS[:3]), DAYS[2:3], 0.5, seed=0))
    assert (train_path.read_bytes(), val_path.read_bytes()) == first
    X, y, ds = read_split(val_path)
    pd.testing.assert_frame_equal(X, val[["f00", "f01"]])
    assert y.tolist() == val["target"].tolist()
    assert ds.tolist() == val["ds"].tolist()


def test_read_split_refuses_a_file_without_target_or_ds(tmp_path) -> None:
    path = tmp_path / "val.csv"
    path.write_text("f00,f01,target\n1,2,0\n")
    with pytest.raises(DataValidationError, match=r"val\.csv.*\['ds'\]"):
        read_split(path)


def test_split_files_keep_each_column_kind_text_digits_booleans_and_gaps(tmp_path) -> None:
    # given days holding a text code spelled with digits ("1"/"0"), booleans and integers, with gaps
    frames = _frames(DAYS[:3])
    for day in DAYS[:3]:
        X, y = frames[day]
        rows = len(X)
        code = np.where(np.arange(rows) % 3 == 0, "1", "0").astype(object)
        code[5] = np.nan
        flag = (np.arange(rows) % 2 == 0).astype(object)
        flag[7] = np.nan
        frames[day] = (X.assign(code=code, flag=flag, count=np.arange(rows)), y)
    # when split, written and read back
    layout = Layout(tmp_path)
    train, val = split_window(frames, DAYS[2:3], 0.5, seed=0)
    write_split(layout, "2025-12-03", train, val)
    X, _, _ = read_split(layout.val_file("2025-12-03"))
    # then the text stays text ("1", not 1), the booleans stay booleans, the integers integers, gaps NaN
    assert X["code"].dropna().map(type).eq(str).all() and set(X["code"].dropna()) <= {"0", "1"}
    assert X["flag"].dropna().map(type).eq(bool).all()
    assert X["count"].dtype == "int64" and X["f00"].dtype == "float64"
    pd.testing.assert_frame_equal(X, val[X.columns.tolist()], check_dtype=False)
