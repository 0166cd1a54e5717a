"""Drift: is today's data still like the data the champion was trained on, and should we retrain?

Four modules, one job each:

- `statistics`: the PSI per feature (numeric: over the reference's deciles; categorical: over its
  categories; both with a missing-value bin), with the KS statistic, the Wasserstein distance and the
  mean shift reported beside it, and the day's verdict (`assess_day`). Pure: frames in, numbers out.
- `calibration`: the PSI's null distribution at the day's sample size (the reference against itself),
  kept per champion and size, so that a feature drifts only beyond its noise and above an effect-size floor.
- `reference`: the champion's training window (`reference_days` from its registry tags) and its
  features read back from `raw/` (`load_window`).
- `trigger`: the trigger policy (hysteresis over consecutive days, cooldown after a drift-triggered
  retrain) and the ledger entry that records each assessed day (`retrain.records.ledger.drift_entry`).

The monitoring use case that strings them together is `retrain.jobs.monitor`. Nothing here imports
Airflow. The names below are re-exported so that `from retrain.drift import assess_day` keeps working.
"""

from __future__ import annotations

from retrain.drift.bins import MAX_SAMPLE_ROWS, PSI_BINS, PSI_EPSILON, SUBSAMPLE_SEED, psi
from retrain.drift.reference import load_window, reference_days
from retrain.drift.statistics import DayDrift, DriftPolicy, FeatureDrift, assess_day, feature_drift
from retrain.drift.trigger import TriggerDecision, should_trigger

__all__ = [
    "MAX_SAMPLE_ROWS",
    "PSI_BINS",
    "PSI_EPSILON",
    "SUBSAMPLE_SEED",
    "DayDrift",
    "DriftPolicy",
    "FeatureDrift",
    "TriggerDecision",
    "assess_day",
    "feature_drift",
    "load_window",
    "psi",
    "reference_days",
    "should_trigger",
]
