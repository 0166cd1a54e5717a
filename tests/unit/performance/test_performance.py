"""Realised performance without Airflow: the metric of scored days whose labels arrived, and its trigger."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.drift.trigger import TriggerDecision
from retrain.jobs.performance import PerformanceJob
from retrain.layout import Layout
from retrain.performance import RealisedMetric, realised_metric, should_trigger_on_performance
from retrain.records import ledger
from retrain.records.status import build_status
from retrain.settings import load_settings

ROWS = 200


def _days(n: int, start: str = "2025-12-01") -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def _scored_day(layout: Layout, ds: str, *, agree: bool, version: str = "1", seed: int = 0) -> None:
    """A day the champion scored (predictions.csv), and labels that agree with it, or its opposite."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, ROWS)
    probability = np.clip(0.2 + 0.6 * truth + rng.normal(0, 0.15, ROWS), 0, 1)
    labels = truth if agree else 1 - truth
    layout.predictions(ds).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "row": range(ROWS),
            "prediction": (probability >= 0.5).astype(int),
            "probability": probability,
            "model_version": version,
        }
    ).to_csv(layout.predictions_file(ds), index=False)
    layout.raw(ds).mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"f00": truth}).to_csv(layout.raw_data(ds), index=False)
    pd.DataFrame({"target": labels}).to_csv(layout.raw_target(ds), index=False)


def _metric(ds: str, value: float | None, version: str = "1") -> RealisedMetric:
    return RealisedMetric(ds, "roc_auc", value, ROWS, version)


def _entry(ds: str, below: bool, version: str = "1", triggered: bool = False) -> dict:
    return {"decision": "performance", "ds": ds, "version": version, "below": below, "triggered_retrain": triggered}


def _decide(history: list[dict], today: RealisedMetric, consecutive: int = 2, cooldown: int = 7) -> TriggerDecision:
    return should_trigger_on_performance(
        history, today, threshold=0.8, consecutive_days=consecutive, cooldown_days=cooldown
    )


def test_realised_metric_from_predictions_and_labels(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    _scored_day(layout, "2025-12-01", agree=True)
    _scored_day(layout, "2025-12-02", agree=False)
    good = realised_metric(
        "2025-12-01", layout.predictions_file("2025-12-01"), layout.raw_target("2025-12-01"), "roc_auc"
    )
    bad = realised_metric(
        "2025-12-02", layout.predictions_file("2025-12-02"), layout.raw_target("2025-12-02"), "roc_auc"
    )
    assert good.value > 0.9 and bad.value < 0.1  # the opposite labels rank every pair the wrong way
    assert (good.rows, good.version, good.metric) == (ROWS, "1", "roc_auc")
    assert realised_metric(
        "2025-12-01", layout.predictions_file("2025-12-01"), layout.raw_target("2025-12-01"), "accuracy"
    ).value == pytest.approx(1.0, abs=0.05)


def test_the_policy_needs_a_sustained_drop_of_one_version() -> None:
    # one day below: not yet; two labelled days in a row below (calendar gaps allowed): retrain
    assert not _decide([], _metric("2025-12-05", 0.6)).should_retrain
    decision = _decide([_entry("2025-12-02", True)], _metric("2025-12-05", 0.6))
    assert decision.should_retrain and "performance sustained over 2 consecutive days" in decision.reasons[1]
    # an earlier day of another version does not count; a day above the threshold breaks the run
    assert not _decide([_entry("2025-12-04", True, version="0")], _metric("2025-12-05", 0.6)).should_retrain
    assert not _decide(
        [_entry("2025-12-03", True), _entry("2025-12-04", False)], _metric("2025-12-05", 0.6)
    ).should_retrain
    # above the threshold, or undefined: never
    assert not _decide([_entry("2025-12-04", True)], _metric("2025-12-05", 0.85)).should_retrain
    assert not _decide([_entry("2025-12-04", True)], _metric("2025-12-05", None)).should_retrain


def test_the_cooldown_holds_back_a_second_trigger() -> None:
    history = [_entry("2025-12-03", True, triggered=True), _entry("2025-12-04", True)]
    held = _decide(history, _metric("2025-12-09", 0.6))
    assert not held.should_retrain and any("cooldown: performance already triggered" in r for r in held.reasons)
    assert _decide(history, _metric("2025-12-10", 0.6)).should_retrain  # 7 days later
    with pytest.raises(ValueError, match="consecutive_days"):
        _decide([], _metric("2025-12-05", 0.6), consecutive=0)


def test_labels_that_start_disagreeing_trigger_once_per_cooldown(retrain_env) -> None:
    # given: a champion that scored 16 days; from the 4th day on the labels disagree with it
    settings = load_settings()
    layout = Layout(settings.data_dir)
    days = _days(16)
    for i, ds in enumerate(days):
        _scored_day(layout, ds, agree=i < 3, seed=i)
    job = PerformanceJob(settings, layout)

    # when: each day's labels arrive (in order) and the day is measured; one day is measured twice
    results = [job.run(ds) for ds in days]
    again = job.run(days[4])

    # then: the drop triggers on its 2nd day, again only after the 7-day cooldown: once per cooldown
    triggered = [r.ds for r in results if r.should_retrain]
    assert triggered == [days[4], days[11]]
    assert again.should_retrain  # a rerun returns what was recorded, without a second record
    entries = [e for e in ledger.read(settings.ledger_path) if e["decision"] == "performance"]
    assert [e["ds"] for e in entries] == days
    assert all(e["below"] == (i >= 3) for i, e in enumerate(entries))
    # and the status lists the realised metric of every scored day
    performance = build_status(settings)["performance"]
    assert [p["ds"] for p in performance] == days
    assert set(performance[0]) == {"ds", "metric", "value", "rows", "version"}
    assert performance[0]["value"] > 0.9 and performance[5]["value"] < 0.1
    assert (performance[0]["rows"], performance[0]["version"], performance[0]["metric"]) == (ROWS, "1", "roc_auc")


def test_a_day_never_scored_records_nothing(retrain_env) -> None:
    settings = load_settings()
    layout = Layout(settings.data_dir)
    _scored_day(layout, "2025-12-01", agree=True)
    layout.predictions_file("2025-12-01").unlink()
    result = PerformanceJob(settings, layout).run("2025-12-01")
    assert not result.measured and "never scored" in result.reasons[0]
    assert ledger.read(settings.ledger_path) == []
    with pytest.raises(FileNotFoundError, match="target.csv"):
        PerformanceJob(settings, layout).run("2025-12-02")
