"""The synthetic stream: deterministic per (seed, ds), balanced, and drifting the way the demo needs."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from retrain.data.generate import (
    RAMP_DAYS,
    drift_level,
    feature_names,
    generate_and_write,
    generate_day,
    write_day,
)
from retrain.data.validate import read_features, read_target
from retrain.layout import Layout
from retrain.settings import Settings

DRIFT = date(2025, 12, 18)


def _day(ds: str, rows: int = 500, seed: int = 42, strength: float = 1.0, n_features: int = 10):
    return generate_day(ds, rows=rows, n_features=n_features, seed=seed, drift_start=DRIFT, drift_strength=strength)


def _days(first: date, count: int, rows: int, strength: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    parts = [_day((first + timedelta(i)).isoformat(), rows=rows, strength=strength) for i in range(count)]
    return pd.concat([p[0] for p in parts], ignore_index=True), pd.concat([p[1] for p in parts], ignore_index=True)


def test_feature_names_are_zero_padded_and_sortable() -> None:
    assert feature_names(3) == ["f00", "f01", "f02"]
    assert feature_names(100)[:2] == ["f000", "f001"]
    assert feature_names(100)[-1] == "f099"
    assert sorted(feature_names(120)) == feature_names(120)
    with pytest.raises(ValueError, match="at least 1"):
        feature_names(0)


def test_day_has_the_documented_shape_and_types() -> None:
    X, y = _day("2025-12-01", rows=3000)
    assert list(X.columns) == feature_names(10)
    assert (X.dtypes == "float64").all()
    assert y.name == "target"
    assert y.dtype == "int64"
    assert set(y.unique()) == {0, 1}
    assert 0.4 < y.mean() < 0.6


def test_same_seed_and_day_give_identical_data_in_any_order() -> None:
    first_a, first_b = _day("2025-12-01"), _day("2025-12-02")
    second_b, second_a = _day("2025-12-02"), _day("2025-12-01")
    pd.testing.assert_frame_equal(first_a[0], second_a[0])
    pd.testing.assert_series_equal(first_a[1], second_a[1])
    pd.testing.assert_frame_equal(first_b[0], second_b[0])


def test_different_day_or_seed_gives_different_data() -> None:
    base = _day("2025-12-01")[0]
    assert not np.allclose(base.to_numpy(), _day("2025-12-02")[0].to_numpy())
    assert not np.allclose(base.to_numpy(), _day("2025-12-01", seed=7)[0].to_numpy())


def test_drift_level_ramps_from_start_over_the_ramp() -> None:
    assert drift_level("2025-12-17", DRIFT) == 0.0
    assert drift_level("2025-12-18", DRIFT) == pytest.approx(1 / RAMP_DAYS)
    assert drift_level((DRIFT + timedelta(RAMP_DAYS - 1)).isoformat(), DRIFT) == 1.0
    assert drift_level("2026-03-01", DRIFT) == 1.0
    assert drift_level("2026-03-01", None) == 0.0


def test_zero_strength_means_no_drift_at_all() -> None:
    drifted_day = "2026-01-10"
    X0, y0 = _day(drifted_day, strength=0.0)
    Xn, yn = generate_day(drifted_day, rows=500, n_features=10, seed=42, drift_start=None, drift_strength=1.0)
    pd.testing.assert_frame_equal(X0, Xn)
    pd.testing.assert_series_equal(y0, yn)


def test_drift_shifts_the_mean_of_several_features() -> None:
    before = _day("2025-12-10", rows=4000)[0].mean()
    after = _day("2026-01-10", rows=4000)[0].mean()
    assert before.abs().max() < 0.1
    shifted = (after - before).abs()
    assert (shifted > 1.0).sum() >= 2
    assert (shifted < 0.1).sum() >= 5  # the rest stay put: the shift is in some features, not all


def test_drift_breaks_an_old_model_and_a_retrained_one_recovers() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    # given a model trained before the drift
    X_pre, y_pre = _days(date(2025, 12, 1), 5, rows=1500)
    old = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X_pre, y_pre)
    # when scored on a fresh pre-drift day and on a fully drifted day
    X_fresh, y_fresh = _day("2025-12-15", rows=3000)
    X_late, y_late = _day("2026-01-20", rows=3000)
    auc_fresh = roc_auc_score(y_fresh, old.predict_proba(X_fresh)[:, 1])
    auc_drift = roc_auc_score(y_late, old.predict_proba(X_late)[:, 1])
    # then it is good before and clearly worse after; a model trained on drifted days recovers
    X_post, y_post = _days(DRIFT + timedelta(RAMP_DAYS), 5, rows=1500)
    new = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X_post, y_post)
    auc_new = roc_auc_score(y_late, new.predict_proba(X_late)[:, 1])
    assert 0.85 < auc_fresh < 0.97
    assert auc_drift < 0.75
    assert auc_new > 0.85


@pytest.mark.parametrize("n_features", [2, 3, 150])
def test_unusual_widths_work(n_features: int) -> None:
    X, y = _day("2026-01-10", rows=300, n_features=n_features)
    assert X.shape == (300, n_features)
    assert np.isfinite(X.to_numpy()).all()
    assert set(y.unique()) <= {0, 1}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="n_features"):
        _day("2025-12-01", n_features=1)
    with pytest.raises(ValueError, match="rows"):
        _day("2025-12-01", rows=0)
    with pytest.raises(ValueError, match="drift_strength"):
        _day("2025-12-01", strength=-1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        _day("2025/12/01")


def test_write_day_round_trips_exactly(tmp_path) -> None:
    layout = Layout(tmp_path)
    X, y = _day("2025-12-01")
    data, target = write_day(layout, "2025-12-01", X, y)
    assert data == tmp_path / "raw" / "2025-12-01" / "data.csv"
    assert data.read_text().splitlines()[0] == ",".join(feature_names(10))
    assert target.read_text().splitlines()[0] == "target"
    pd.testing.assert_frame_equal(read_features(data), X)
    pd.testing.assert_series_equal(read_target(target, len(X)), y)
    assert not list(data.parent.glob(".*.tmp"))  # no temporary files left behind


def test_rerun_gives_byte_identical_files(tmp_path, settings: Settings) -> None:
    first = generate_and_write(settings, Layout(tmp_path / "a"), "2025-12-20")
    second = generate_and_write(settings, Layout(tmp_path / "b"), "2025-12-20")
    again = generate_and_write(settings, Layout(tmp_path / "a"), "2025-12-20")
    other_day = generate_and_write(settings, Layout(tmp_path / "a"), "2025-12-21")
    for one, two, three in zip(first, second, again, strict=True):
        assert one.read_bytes() == two.read_bytes() == three.read_bytes()
    assert other_day[0].read_bytes() != first[0].read_bytes()


def test_generate_and_write_follows_the_settings(tmp_path, settings: Settings) -> None:
    data, target = generate_and_write(settings, Layout(tmp_path), "2025-12-01")
    lines = data.read_text().splitlines()
    assert len(lines) == settings.rows_per_day + 1
    assert lines[0].split(",") == feature_names(settings.n_features)
    assert len(target.read_text().splitlines()) == settings.rows_per_day + 1


def test_write_day_refuses_mismatched_lengths(tmp_path) -> None:
    X, y = _day("2025-12-01")
    with pytest.raises(ValueError, match="labels"):
        write_day(Layout(tmp_path), "2025-12-01", X, y.iloc[:-1])
    assert not (tmp_path / "raw" / "2025-12-01" / "target.csv").exists()


def test_mixed_types_add_text_boolean_and_integer_columns_with_gaps_and_change_nothing_else() -> None:
    from retrain.data.generate import generate_day

    args = {"rows": 500, "n_features": 4, "seed": 3, "drift_start": None, "drift_strength": 1.0}
    plain, labels = generate_day("2025-12-01", **args)
    mixed, mixed_labels = generate_day("2025-12-01", mixed_types=True, **args)
    assert list(mixed.columns) == [*plain.columns, "segment", "active", "visits"]
    pd.testing.assert_frame_equal(mixed[plain.columns], plain)
    pd.testing.assert_series_equal(mixed_labels, labels)
    assert set(mixed["segment"].dropna()) == {"low", "mid", "high"} and mixed["segment"].isna().mean() > 0.03
    assert set(mixed["active"].dropna()) == {True, False} and mixed["active"].isna().any()
    assert mixed["visits"].dtype == "int64"
    again, _ = generate_day("2025-12-01", mixed_types=True, **args)
    pd.testing.assert_frame_equal(again, mixed)
