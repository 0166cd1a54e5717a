"""Drift statistics on known samples (hand computations, scipy) and the day's verdict."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from retrain.drift.bins import PSI_EPSILON, psi
from retrain.drift.statistics import DayDrift, DriftPolicy, FeatureDrift, assess_day, feature_drift
from retrain.settings import Settings

THRESHOLDS = DriftPolicy(method="fixed", psi_threshold=0.2, ks_threshold=0.1, min_share=0.2)


def _frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Ten features of different shapes: normal, skewed, bounded, heavy-tailed and discrete (ties)."""
    return pd.DataFrame(
        {
            "normal_a": rng.normal(size=rows),
            "normal_b": rng.normal(5.0, 3.0, size=rows),
            "lognormal": rng.lognormal(size=rows),
            "uniform": rng.uniform(-1, 1, size=rows),
            "exponential": rng.exponential(2.0, size=rows),
            "student_t": rng.standard_t(3, size=rows),
            "poisson": rng.poisson(3.0, size=rows).astype(float),
            "binary": rng.integers(0, 2, size=rows).astype(float),
            "beta": rng.beta(2.0, 5.0, size=rows),
            "gamma": rng.gamma(2.0, size=rows),
        }
    )


# --- statistics ---------------------------------------------------------------------------------


def test_no_drift_on_same_distribution_of_a_million_rows() -> None:
    # given a reference and a current day of 1,000,000 rows each, drawn from the same distributions
    reference = _frame(np.random.default_rng(1), 1_000_000)
    current = _frame(np.random.default_rng(2), 1_000_000)
    # when assessing the day
    day = assess_day("2025-12-20", reference, current, THRESHOLDS)
    # then no feature is anywhere near a threshold (a p-value test would flag tiny noise here)
    assert [f.feature for f in day.features] == list(reference.columns)
    for feature in day.features:
        assert feature.psi < 0.01, feature
        assert feature.ks < 0.01, feature
        assert feature.wasserstein < 0.01, feature
        assert abs(feature.mean_shift) < 0.01, feature
        assert not feature.drifted
    assert day.drifted_features == []
    assert day.share == 0.0
    assert day.drifted is False


def test_a_shifted_feature_is_found_and_only_it() -> None:
    # given a 28,000-row reference and a day of 2,000 rows (the demo's sizes) where one feature shifts
    rng = np.random.default_rng(7)
    reference = _frame(rng, 28_000)
    current = _frame(rng, 2_000)
    current["normal_b"] += 0.5 * 3.0  # half a standard deviation
    # when computing the statistics
    features = {f.feature: f for f in feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)}
    # then that feature, and only it, drifts, and its mean shift is measured in reference sds
    assert [name for name, f in features.items() if f.drifted] == ["normal_b"]
    shifted = features["normal_b"]
    assert shifted.ks > 0.15
    assert shifted.mean_shift == pytest.approx(0.5, abs=0.06)
    assert shifted.wasserstein == pytest.approx(0.5, abs=0.06)
    assert max(f.ks for name, f in features.items() if name != "normal_b") < 0.06


def test_psi_matches_a_hand_computation() -> None:
    # given the reference 1..100, whose deciles hold 10 values each, and a current day with half of its
    # values in the first decile and half in the last
    reference = np.arange(1, 101, dtype=float)
    current = np.array([1.0] * 10 + [95.0] * 10)
    # then PSI = 2 * (0.5 - 0.1) ln(0.5 / 0.1) + 8 * (eps - 0.1) ln(eps / 0.1)
    expected = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    # and a sample against itself, or against the same deciles, has no drift at all
    assert psi(reference, reference) == 0.0
    assert psi(reference, reference[::-1].copy()) == 0.0
    # and a value on a bin edge belongs to the bin that edge closes: (lo, hi]
    edge = np.quantile(reference, 0.1)  # 10.9
    assert psi(reference, np.full(10, edge)) == pytest.approx(psi(reference, np.full(10, 5.0)))


def test_ks_wasserstein_and_mean_shift_match_a_hand_computation() -> None:
    # given {1, 2, 3, 4} against {3, 4, 5, 6}: the empirical CDFs differ most (by 1/2) between 2 and 3,
    # and every value moves by 2
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    current = pd.DataFrame({"x": [3.0, 4.0, 5.0, 6.0]})
    (result,) = feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)
    sd = math.sqrt(1.25)  # population standard deviation of the reference
    assert result.ks == pytest.approx(0.5)
    assert result.wasserstein == pytest.approx(2 / sd)
    assert result.mean_shift == pytest.approx(2 / sd)
    assert result.drifted is True


def test_statistics_agree_with_scipy_on_unsorted_input() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=5_000)})
    current = pd.DataFrame({"x": rng.normal(0.3, 1.2, size=700)})
    (result,) = feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)
    assert result.ks == pytest.approx(stats.ks_2samp(reference["x"], current["x"]).statistic, abs=1e-12)
    expected_w = stats.wasserstein_distance(reference["x"], current["x"]) / reference["x"].std(ddof=0)
    assert result.wasserstein == pytest.approx(expected_w, rel=1e-9)


def test_subsampling_is_seeded_and_close_to_the_full_statistics() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=50_000)})
    current = pd.DataFrame({"x": rng.normal(0.2, 1.0, size=50_000)})
    full = feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)[0]
    first = feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1, max_sample_rows=10_000)[0]
    again = feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1, max_sample_rows=10_000)[0]
    assert first == again  # the same inputs always give the same numbers
    assert first.ks == pytest.approx(full.ks, abs=0.03)
    assert first.psi == pytest.approx(full.psi, abs=0.02)
    assert first.mean_shift == full.mean_shift  # the mean shift always uses every row


def test_constant_missing_and_text_columns() -> None:
    reference = pd.DataFrame(
        {"const": [1.0] * 50, "gappy": [np.nan, *range(49)], "name": ["a"] * 50, "empty": [np.nan] * 50}
    )
    current = pd.DataFrame({"const": [1.0] * 20, "gappy": list(range(20)), "name": ["b"] * 20, "empty": range(20)})
    result = {f.feature: f for f in feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)}
    assert set(result) == {"const", "gappy", "name", "empty"}
    assert result["const"].psi == 0.0 and result["const"].ks == 0.0 and not result["const"].drifted
    assert math.isfinite(result["gappy"].psi)  # missing values have a bin of their own, never NaN
    assert math.isnan(result["empty"].psi) and not result["empty"].drifted  # nothing in the reference
    # a text column is compared over its categories (no KS): "a" every day, then "b" only
    assert result["name"].kind == "categorical" and math.isnan(result["name"].ks)
    assert result["name"].drifted and result["name"].psi > 5
    with pytest.raises(ValueError, match="share no column"):
        feature_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}), psi_threshold=0.2, ks_threshold=0.1)


# --- the day ----------------------------------------------------------------------------------


def _shifted_day(n_shifted: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    columns = [f"f{i:02d}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(20_000, 10)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(2_000, 10)), columns=columns)
    current.iloc[:, :n_shifted] += 1.0
    return reference, current


@pytest.mark.parametrize(("n_shifted", "drifted"), [(0, False), (1, False), (2, True), (5, True)])
def test_a_day_drifts_from_the_min_share_of_features(n_shifted: int, drifted: bool) -> None:
    reference, current = _shifted_day(n_shifted)
    day = assess_day("2025-12-20", reference, current, THRESHOLDS)
    assert len(day.drifted_features) == n_shifted
    assert day.share == pytest.approx(n_shifted / 10)
    assert day.drifted is drifted
    assert (day.reference_rows, day.current_rows) == (20_000, 2_000)


def test_assess_day_reads_the_settings(settings: Settings) -> None:
    reference, current = _shifted_day(2)
    day = assess_day("2025-12-20", reference, current, settings)
    assert day.method == settings.drift_method == "calibrated"
    assert day.psi_floor == settings.drift_psi_floor
    assert day.min_share == settings.drift_min_share
    assert day.null_rows == 2_000 and 0.99 < day.null_level < 1
    assert all(f.floor == settings.drift_psi_floor and f.null_quantile > 0 for f in day.features)
    assert day.drifted_features == ["f00", "f01"]
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        assess_day("20/12/2025", reference, current, settings)


def test_day_to_dict_is_small_json_and_round_trips() -> None:
    reference, current = _shifted_day(3)
    day = assess_day("2025-12-20", reference, current, THRESHOLDS)
    data = day.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert len(text) < 3_000
    assert set(data["features"][0]) == {
        "feature",
        "kind",
        "psi",
        "null_quantile",
        "floor",
        "ks",
        "wasserstein",
        "mean_shift",
        "drifted",
    }
    again = DayDrift.from_dict(json.loads(text))
    assert again.drifted_features == day.drifted_features
    assert again.drifted is day.drifted
    assert [f.feature for f in again.features] == [f.feature for f in day.features]
    assert again.features[0].psi == pytest.approx(day.features[0].psi, abs=1e-6)
    # NaN statistics become null, never NaN (which is not JSON)
    nan_day = DayDrift("2025-12-20", [FeatureDrift("x", math.nan, math.nan, math.nan, math.nan, False)], [], 0.0, False)
    assert json.loads(json.dumps(nan_day.to_dict(), allow_nan=False))["features"][0]["psi"] is None
