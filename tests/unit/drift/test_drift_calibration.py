"""Drift calibrated to the sample size: the null, its level, its cache, categorical features, small days."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from retrain.data.generate import generate_day
from retrain.drift import DriftPolicy, assess_day, should_trigger
from retrain.drift.bins import PSI_EPSILON, profile
from retrain.drift.calibration import day_null, null_level, null_quantiles, null_rows
from retrain.drift.statistics import profiles_of
from retrain.layout import Layout
from retrain.records.ledger import drift_entry

CALIBRATED = DriftPolicy(seed=3)
FIXED = DriftPolicy(method="fixed", psi_threshold=0.2, ks_threshold=0.1)


def _days(start: str, n: int) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def _stream(days: list[str], rows: int, *, seed: int = 5, strength: float = 0.0, start: str | None = None) -> dict:
    drift_start = date.fromisoformat(start) if start else None
    return {
        ds: generate_day(ds, rows=rows, n_features=10, seed=seed, drift_start=drift_start, drift_strength=strength)[0]
        for ds in days
    }


def _monitor(frames: dict[str, pd.DataFrame], window: list[str], policy: DriftPolicy) -> list[dict]:
    """What monitor_drift does each day after the window: assess, apply the trigger policy, record."""
    reference = pd.concat([frames[d] for d in window], ignore_index=True)
    history: list[dict] = []
    for ds in [d for d in frames if d > window[-1]]:
        today = assess_day(ds, reference, frames[ds], policy)
        decision = should_trigger(history, today, consecutive_days=2, cooldown_days=7)
        history.append(drift_entry(today, decision))
    return history


# --- the level and the size -----------------------------------------------------------------------


def test_null_level_bounds_the_day_whatever_the_correlation() -> None:
    # ten features, a day drifts from two (share 0.2): each feature may be flagged by noise with
    # probability 0.01 * 2 / 10, so at most 0.01 of stable days have two or more flags (Markov)
    assert null_level(10, 0.2, 0.99) == pytest.approx(1 - 0.002)
    # four features: one is enough for a drifted day, so each gets a quarter of the 1 %
    assert null_level(4, 0.2, 0.99) == pytest.approx(1 - 0.0025)
    assert null_level(1, 0.2, 0.99) == pytest.approx(0.99)
    with pytest.raises(ValueError, match="at least one feature"):
        null_level(0, 0.2, 0.99)


@pytest.mark.parametrize(
    ("rows", "expected"), [(0, 0), (50, 50), (99, 99), (2013, 2000), (2099, 2000), (123_456, 120_000)]
)
def test_null_rows_round_down_to_two_significant_digits(rows: int, expected: int) -> None:
    assert null_rows(rows) == expected


def test_the_null_of_a_large_day_matches_the_chi_square_approximation() -> None:
    # given ten equal deciles, a reference of 14,000 rows and days of 2,000
    shares = profile(pd.Series(np.random.default_rng(0).normal(size=14_000), name="x"))
    # when drawing the null's 0.998 quantile
    (quantile,) = null_quantiles({"x": shares}, 2_000, level=0.998, resamples=20_000, seed=1).values()
    # then it is close to (1/n + 1/N) chi-square(9)'s (PSI is Jeffreys' divergence: ~ chi-square / n)
    expected = (1 / 2_000 + 1 / 14_000) * stats.chi2.ppf(0.998, 9)
    assert quantile == pytest.approx(expected, rel=0.15)
    # and a 50-row day's null is some 40 times wider: the same PSI means nothing on a small day
    (small,) = null_quantiles({"x": shares}, 50, level=0.998, resamples=20_000, seed=1).values()
    assert small > 30 * quantile


# --- small days on stable streams, and the drifting demo stream -------------------------------------


def test_fifty_row_days_on_a_stable_stream_never_trigger() -> None:
    # given a stream with no drift, of 50-row days; the champion's window is its first 7 days
    days = _days("2025-12-01", 37)
    frames = _stream(days, 50)
    # when monitoring the 30 days after the window with each rule
    calibrated = _monitor(frames, days[:7], CALIBRATED)
    fixed = _monitor(frames, days[:7], FIXED)
    # then the calibrated rule flags no day and triggers nothing
    assert sum(e["drifted"] for e in calibrated) == 0
    assert sum(e["triggered_retrain"] for e in calibrated) == 0
    # where fixed thresholds flag most days and retrain on noise (the rule this replaces)
    assert sum(e["drifted"] for e in fixed) > 15
    assert sum(e["triggered_retrain"] for e in fixed) >= 2
    # and every record carries, per feature, the statistic, its null quantile and the floor
    feature = calibrated[0]["features"][0]
    assert feature["psi"] > 0 and feature["null_quantile"] > feature["psi"] and feature["floor"] == 0.1
    assert calibrated[0]["thresholds"]["method"] == "calibrated"
    assert calibrated[0]["thresholds"]["null_rows"] == 50


def test_a_real_data_set_split_into_51_row_days_does_not_drift() -> None:
    # given breast_cancer's 569 rows shuffled into 11 days of about 51 (the report: 21 of 30
    # features flagged on a day with no drift at all)
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    parts = np.array_split(np.random.default_rng(0).permutation(len(X)), 11)
    days = _days("2025-12-01", 11)
    frames = {ds: X.iloc[idx].reset_index(drop=True) for ds, idx in zip(days, parts, strict=True)}
    # when monitoring the 4 days after a 7-day window
    records = _monitor(frames, days[:7], CALIBRATED)
    # then no day drifts, and few features are flagged at all
    assert [e["drifted"] for e in records] == [False] * 4
    assert sum(len(e["drifted_features"]) for e in records) <= 2


def test_the_demo_stream_drift_is_found_within_two_days() -> None:
    # given the demo's stream (2,000 rows x 10 features, seed 42, drift from 12-15, strength 1) and a
    # champion trained on 12-01..12-07
    days = _days("2025-12-01", 20)
    frames = _stream(days, 2_000, seed=42, strength=1.0, start="2025-12-15")
    # when monitoring every day after the window
    records = {e["ds"]: e for e in _monitor(frames, days[:7], CALIBRATED)}
    # then nothing before the drift; a retrain is triggered by 12-17 (two days after it starts)
    assert not any(e["drifted"] for ds, e in records.items() if ds < "2025-12-15")
    triggered = [ds for ds, e in records.items() if e["triggered_retrain"]]
    assert triggered and triggered[0] <= "2025-12-17"


# --- categorical features ---------------------------------------------------------------------------


def test_categorical_psi_counts_categories_other_and_missing() -> None:
    # given an object column (text and None) in the reference and a day with a new category
    reference = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 10 + [None] * 10, dtype=object, name="colour")
    current = pd.Series(["a"] * 10 + ["b"] * 5 + ["z"] * 3 + [None] * 2, dtype=object, name="colour")
    prof = profile(reference)
    # then the bins are the categories by frequency, "other", then missing
    assert prof.kind == "categorical" and prof.categories == ("a", "b", "c")
    assert prof.shares.tolist() == pytest.approx([0.5, 0.3, 0.1, 0.0, 0.1])
    assert prof.counts(current).tolist() == [10, 5, 0, 3, 2]
    # and the PSI is the hand computation over those five bins (empty bins count as epsilon)
    r = np.maximum([0.5, 0.3, 0.1, 0.0, 0.1], PSI_EPSILON)
    c = np.maximum([0.5, 0.25, 0.0, 0.15, 0.1], PSI_EPSILON)
    (feature,) = assess_day("2025-12-20", reference.to_frame(), current.to_frame(), FIXED).features
    assert feature.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert feature.kind == "categorical" and math.isnan(feature.ks) and math.isnan(feature.mean_shift)


def test_boolean_and_text_columns_are_categorical_and_calibrated() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(
        {
            "plan": rng.choice(np.array(["free", "pro", "team"], dtype=object), size=5_000, p=[0.6, 0.3, 0.1]),
            "active": rng.random(5_000) < 0.7,
            "x": rng.normal(size=5_000),
        }
    )
    # a 60-row day of the same distribution does not drift...
    same = reference.sample(60, random_state=2).reset_index(drop=True)
    day = assess_day("2025-12-20", reference, same, CALIBRATED)
    assert [f.kind for f in day.features] == ["categorical", "categorical", "numeric"]
    assert day.drifted_features == []
    # ...while a day where "team" took over and a share went missing does, on that feature alone
    moved = same.copy()
    moved["plan"] = ["team"] * 40 + [None] * 20
    day = assess_day("2025-12-20", reference, moved, CALIBRATED)
    assert day.drifted_features == ["plan"]
    plan = day.features[0]
    assert plan.psi > plan.null_quantile and plan.psi >= plan.floor


# --- the cache ----------------------------------------------------------------------------------------


def test_the_null_is_cached_per_champion_and_size_and_recomputed_when_the_reference_changes(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=3_000), "k": rng.poisson(2.0, size=3_000).astype(float)})
    day = pd.DataFrame({"x": rng.normal(size=2_013), "k": rng.poisson(2.0, size=2_013).astype(float)})
    cache = layout.drift_null_file("3", null_rows(len(day)))
    assert cache == tmp_path / "drift" / "champion-3" / "null-2000.json"
    # the first day of a champion draws the null and keeps it
    first = assess_day("2025-12-20", reference, day, CALIBRATED, cache=cache)
    assert first.null_cached is False and cache.is_file()
    # the next day of a similar size reads it back: the same quantiles, not drawn again
    cache.touch()
    stamp = cache.stat().st_mtime_ns
    again = assess_day("2025-12-21", reference, day.iloc[:2_050].copy(), CALIBRATED, cache=cache)
    assert again.null_cached is True and cache.stat().st_mtime_ns == stamp
    assert [f.null_quantile for f in again.features] == [f.null_quantile for f in first.features]
    # a changed reference (another window under the same file name) is not trusted: drawn again
    profiles = profiles_of(reference.iloc[:2_500])
    assert day_null(profiles, 2_000, CALIBRATED, cache=cache).cached is False
    assert day_null(profiles, 2_000, CALIBRATED, cache=cache).cached is True
    # a broken file is drawn again too
    cache.write_text("{not json")
    assert day_null(profiles, 2_000, CALIBRATED, cache=cache).cached is False
    with pytest.raises(ValueError, match="registry version"):
        layout.drift_null_file("../x", 50)
