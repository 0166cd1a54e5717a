"""The trigger policy: hysteresis over consecutive drifted days, the cooldown, and the ledger round trip."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from retrain.drift.statistics import DayDrift, FeatureDrift
from retrain.drift.trigger import TriggerDecision, should_trigger
from retrain.records import ledger
from retrain.records.ledger import drift_entry

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
    assert decision.should_retrain is False
    assert any("not yet sustained" in r and _ago(1) in r for r in decision.reasons)


def test_hysteresis_two_consecutive_drifted_days_trigger() -> None:
    decision = should_trigger([_event(1)], _today(), consecutive_days=2, cooldown_days=7)
    assert decision == TriggerDecision(should_retrain=True, reasons=decision.reasons)
    assert decision.should_retrain is True
    assert any("sustained over 2 consecutive days" in r for r in decision.reasons)
    assert decision.reasons[-1] == "retrain triggered"


@pytest.mark.parametrize(
    ("history", "consecutive", "should_retrain"),
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
def test_hysteresis_table(history: list[dict], consecutive: int, should_retrain: bool) -> None:
    decision = should_trigger(history, _today(), consecutive_days=consecutive, cooldown_days=7)
    assert decision.should_retrain is should_retrain


def test_no_drift_today_never_triggers() -> None:
    decision = should_trigger([_event(1), _event(2)], _today(drifted=False), consecutive_days=1, cooldown_days=0)
    assert decision.should_retrain is False
    assert "no drift today" in decision.reasons[0]


@pytest.mark.parametrize(
    ("trigger_days_ago", "should_retrain"),
    [
        pytest.param(3, False, id="3-days-ago-within-7"),
        pytest.param(6, False, id="6-days-ago-within-7"),
        pytest.param(7, True, id="7-days-ago-window-over"),
        pytest.param(8, True, id="8-days-ago"),
        pytest.param(0, False, id="rerun-of-the-day-that-triggered"),
        pytest.param(-2, False, id="backfill-before-a-later-trigger"),
    ],
)
def test_cooldown(trigger_days_ago: int, should_retrain: bool) -> None:
    # given drift sustained today and yesterday, and a retrain triggered by drift some days ago
    history = [_event(trigger_days_ago, triggered=True), _event(1)]
    # when deciding with a cooldown of 7 days
    decision = should_trigger(history, _today(), consecutive_days=2, cooldown_days=7)
    # then a trigger inside the cooldown window holds today's back
    assert decision.should_retrain is should_retrain
    if not should_retrain:
        assert any(r.startswith("cooldown:") and _ago(trigger_days_ago) in r for r in decision.reasons)


def test_zero_cooldown_and_bad_arguments() -> None:
    history = [_event(1, triggered=True)]
    assert should_trigger(history, _today(), consecutive_days=2, cooldown_days=0).should_retrain is True
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
        outcomes.append(decision.should_retrain)
    # then the second day triggers (two in a row) and the third is held back by the cooldown
    assert outcomes == [False, True, False]
    entries = ledger.read(path)
    assert [e["triggered_retrain"] for e in entries] == [False, True, False]
    assert entries[1]["drifted_features"] == ["f0", "f1", "f2"]
    assert entries[1]["features"][0]["psi"] == 0.5
    assert entries[1]["trigger"] == "schedule"
