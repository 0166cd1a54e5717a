"""Drift statistics on known samples, the day's decision, and the trigger's hysteresis and cooldown."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from retrain.drift import (
    PSI_EPSILON,
    DayDrift,
    FeatureDrift,
    TriggerDecision,
    assess_day,
    drift_entry,
    feature_drift,
    load_window,
    psi,
    reference_days,
    should_trigger,
)
from retrain.records import ledger
from retrain.settings import Settings

THRESHOLDS = SimpleNamespace(drift_psi_threshold=0.2, drift_ks_threshold=0.1, drift_min_share=0.2)


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


def test_constant_missing_and_non_numeric_columns() -> None:
    reference = pd.DataFrame(
        {"const": [1.0] * 50, "gappy": [np.nan, *range(49)], "name": ["a"] * 50, "empty": [np.nan] * 50}
    )
    current = pd.DataFrame({"const": [1.0] * 20, "gappy": list(range(20)), "name": ["b"] * 20, "empty": range(20)})
    result = {f.feature: f for f in feature_drift(reference, current, psi_threshold=0.2, ks_threshold=0.1)}
    assert set(result) == {"const", "gappy", "empty"}  # text columns are not compared
    assert result["const"].psi == 0.0 and result["const"].ks == 0.0 and not result["const"].drifted
    assert math.isfinite(result["gappy"].psi)  # missing values are left out, not propagated
    assert math.isnan(result["empty"].psi) and not result["empty"].drifted
    with pytest.raises(ValueError, match="share no numeric column"):
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
    assert day.psi_threshold == settings.drift_psi_threshold
    assert day.ks_threshold == settings.drift_ks_threshold
    assert day.min_share == settings.drift_min_share
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        assess_day("20/12/2025", reference, current, settings)


def test_day_to_dict_is_small_json_and_round_trips() -> None:
    reference, current = _shifted_day(3)
    day = assess_day("2025-12-20", reference, current, THRESHOLDS)
    data = day.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert len(text) < 2_000
    assert set(data["features"][0]) == {"feature", "psi", "ks", "wasserstein", "mean_shift", "drifted"}
    again = DayDrift.from_dict(json.loads(text))
    assert again.drifted_features == day.drifted_features
    assert again.drifted is day.drifted
    assert [f.feature for f in again.features] == [f.feature for f in day.features]
    assert again.features[0].psi == pytest.approx(day.features[0].psi, abs=1e-6)
    # NaN statistics become null, never NaN (which is not JSON)
    nan_day = DayDrift("2025-12-20", [FeatureDrift("x", math.nan, math.nan, math.nan, math.nan, False)], [], 0.0, False)
    assert json.loads(json.dumps(nan_day.to_dict(), allow_nan=False))["features"][0]["psi"] is None


# --- hysteresis and cooldown --------------------------------------------------------------------

TODAY = "2025-12-20"


def _today(drifted: bool = True, ds: str = TODAY) -> DayDrift:
    features = [
        FeatureDrift(f"f{i}", 0.5 if i < 3 else 0.01, 0.3 if i < 3 else 0.01, 0.5, 0.5, i < 3) for i in range(10)
    ]
    if not drifted:
        features = [FeatureDrift(f.feature, 0.01, 0.01, 0.0, 0.0, False) for f in features]
    names = [f.feature for f in features if f.drifted]
    return DayDrift(ds, features, names, len(names) / 10, drifted, 0.2, 0.1, 0.2, 28_000, 2_000)


def _ago(days: int) -> str:
    return (date.fromisoformat(TODAY) - timedelta(days=days)).isoformat()


def _event(days_ago: int, *, drifted: bool = True, triggered: bool = False) -> dict:
    return {"decision": "drift", "ds": _ago(days_ago), "drifted": drifted, "triggered_retrain": triggered}


def test_hysteresis_one_drifted_day_is_not_enough_with_two_consecutive() -> None:
    decision = should_trigger([], _today(), consecutive_days=2, cooldown_days=7)
    assert decision.trigger is False
    assert any("not yet sustained" in r and _ago(1) in r for r in decision.reasons)


def test_hysteresis_two_consecutive_drifted_days_trigger() -> None:
    decision = should_trigger([_event(1)], _today(), consecutive_days=2, cooldown_days=7)
    assert decision == TriggerDecision(trigger=True, reasons=decision.reasons)
    assert decision.trigger is True
    assert any("sustained over 2 consecutive days" in r for r in decision.reasons)
    assert decision.reasons[-1] == "retrain triggered"


@pytest.mark.parametrize(
    ("history", "consecutive", "trigger"),
    [
        pytest.param([], 1, True, id="one-day-is-enough"),
        pytest.param([_event(1, drifted=False)], 2, False, id="yesterday-not-drifted"),
        pytest.param([_event(2)], 2, False, id="yesterday-missing"),
        pytest.param([_event(1), _event(2)], 3, True, id="three-in-a-row"),
        pytest.param([_event(1), _event(3)], 3, False, id="gap-breaks-the-run"),
        pytest.param([_event(1), _event(1, drifted=False)], 2, False, id="latest-record-of-a-day-wins"),
        pytest.param([_event(1, drifted=False), _event(1)], 2, True, id="a-rerun-that-drifted-counts"),
        pytest.param([{**_event(1), "decision": "skip"}], 2, False, id="other-decisions-ignored"),
    ],
)
def test_hysteresis_table(history: list[dict], consecutive: int, trigger: bool) -> None:
    assert should_trigger(history, _today(), consecutive_days=consecutive, cooldown_days=7).trigger is trigger


def test_no_drift_today_never_triggers() -> None:
    decision = should_trigger([_event(1), _event(2)], _today(drifted=False), consecutive_days=1, cooldown_days=0)
    assert decision.trigger is False
    assert "no drift today" in decision.reasons[0]


@pytest.mark.parametrize(
    ("trigger_days_ago", "trigger"),
    [
        pytest.param(3, False, id="3-days-ago-within-7"),
        pytest.param(6, False, id="6-days-ago-within-7"),
        pytest.param(7, True, id="7-days-ago-window-over"),
        pytest.param(8, True, id="8-days-ago"),
        pytest.param(0, False, id="rerun-of-the-day-that-triggered"),
        pytest.param(-2, False, id="backfill-before-a-later-trigger"),
    ],
)
def test_cooldown(trigger_days_ago: int, trigger: bool) -> None:
    # given drift sustained today and yesterday, and a retrain triggered by drift some days ago
    history = [_event(trigger_days_ago, triggered=True), _event(1)]
    # when deciding with a cooldown of 7 days
    decision = should_trigger(history, _today(), consecutive_days=2, cooldown_days=7)
    # then a trigger inside the cooldown window holds today's back
    assert decision.trigger is trigger
    if not trigger:
        assert any(r.startswith("cooldown:") and _ago(trigger_days_ago) in r for r in decision.reasons)


def test_zero_cooldown_and_bad_arguments() -> None:
    history = [_event(1, triggered=True)]
    assert should_trigger(history, _today(), consecutive_days=2, cooldown_days=0).trigger is True
    with pytest.raises(ValueError, match="consecutive_days"):
        should_trigger([], _today(), consecutive_days=0, cooldown_days=7)
    with pytest.raises(ValueError, match="cooldown_days"):
        should_trigger([], _today(), consecutive_days=1, cooldown_days=-1)


def test_drift_entries_round_trip_through_the_ledger(tmp_path: Path) -> None:
    # given three daily assessments recorded in the ledger as monitor_drift would record them
    path = tmp_path / "ledger.jsonl"
    outcomes = []
    for offset in (2, 1, 0):
        day = _today(ds=_ago(offset))
        history = [e for e in ledger.read(path) if e["decision"] == "drift"]
        decision = should_trigger(history, day, consecutive_days=2, cooldown_days=7)
        ledger.append(path, drift_entry(day, decision, reference_window=["2025-12-01", "2025-12-14"]))
        outcomes.append(decision.trigger)
    # then the second day triggers (two in a row) and the third is held back by the cooldown
    assert outcomes == [False, True, False]
    entries = ledger.read(path)
    assert [e["triggered_retrain"] for e in entries] == [False, True, False]
    assert entries[1]["drifted_features"] == ["f0", "f1", "f2"]
    assert entries[1]["features"][0]["psi"] == 0.5
    assert entries[1]["trigger"] == "schedule"


# --- the reference window -----------------------------------------------------------------------


def test_reference_days_from_champion_tags() -> None:
    assert reference_days({"window_start": "2025-12-01", "window_end": "2025-12-14", "x": "y"}) == (
        "2025-12-01",
        "2025-12-14",
    )
    with pytest.raises(ValueError, match="window_start / window_end"):
        reference_days({"window_start": "2025-12-01"})
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        reference_days({"window_start": "2025-12-01", "window_end": "14.12.2025"})
    with pytest.raises(ValueError, match="before it starts"):
        reference_days({"window_start": "2025-12-14", "window_end": "2025-12-01"})


def test_load_window_reads_the_landed_days(tmp_path: Path) -> None:
    from retrain.data.generate import generate_day, write_day
    from retrain.layout import Layout

    layout = Layout(tmp_path)
    for ds in ("2025-12-01", "2025-12-02", "2025-12-03", "2025-12-05"):
        X, y = generate_day(ds, rows=50, n_features=3, seed=1, drift_start=None, drift_strength=0.0)
        write_day(layout, ds, X, y)
    frame = load_window(layout, "2025-12-02", "2025-12-05")
    assert len(frame) == 150  # 12-02, 12-03 and 12-05 (12-04 never landed)
    assert list(frame.columns) == ["f00", "f01", "f02"]
    with pytest.raises(ValueError, match="no landed day"):
        load_window(layout, "2026-01-01", "2026-01-31")
