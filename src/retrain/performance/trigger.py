"""Whether a drop of the realised metric starts a retrain: sustained, outside the cooldown.

The same idea as the drift trigger (`retrain.drift.trigger`, whose hysteresis and cooldown this reuses):
a retrain starts when the realised metric of the champion is below `RETRAIN_METRIC_THRESHOLD` on
`RETRAIN_PERFORMANCE_CONSECUTIVE_DAYS` labelled days in a row (the previous ones are the latest
labelled days scored by the same version: labels arrive with gaps, so calendar days would never line
up), and no retrain was triggered by performance within `RETRAIN_PERFORMANCE_COOLDOWN_DAYS` days.
The history is read back from the ledger's performance entries (`retrain.records.ledger.performance_entry`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from retrain.drift.trigger import TriggerDecision, check_hysteresis, sustained_outside_cooldown
from retrain.layout import check_ds
from retrain.performance.realised import RealisedMetric


def should_trigger_on_performance(
    history: Iterable[Mapping[str, Any]],
    today: RealisedMetric,
    *,
    threshold: float,
    consecutive_days: int,
    cooldown_days: int,
) -> TriggerDecision:
    """Decide whether today's realised metric triggers a retrain.

    Rules, each giving one reason: today's value is below `threshold`; so were the previous
    `consecutive_days - 1` labelled days scored by the same version (`history`, latest entry per day
    wins); no performance entry with `triggered_retrain` lies within `cooldown_days` days of today.

    Args:
        history: Earlier ledger entries (entries whose `decision` is not "performance" are ignored), each
            with `ds`, `version`, `below` and `triggered_retrain`.
        today: Today's realised metric.
        threshold: `RETRAIN_METRIC_THRESHOLD`.
        consecutive_days: Labelled days in a row below the threshold (>= 1).
        cooldown_days: Days after a performance-triggered retrain during which no other starts (>= 0).

    Raises:
        ValueError: When `consecutive_days` < 1 or `cooldown_days` < 0.
    """
    check_hysteresis(consecutive_days, cooldown_days)
    today_date = date.fromisoformat(check_ds(today.ds))
    if not today.below(threshold):
        shown = "undefined" if today.value is None else f"{today.value:.4f} ≥ threshold {threshold:.4f}"
        return TriggerDecision(False, [f"realised {today.metric} of version {today.version} on {today.ds}: {shown}"])
    reasons = [f"realised {today.metric} of version {today.version} on {today.ds}: {today.value:.4f} < {threshold:.4f}"]

    below: dict[date, bool] = {}
    triggers: list[date] = []
    for entry in history:
        if entry.get("decision") != "performance":
            continue
        try:
            day = date.fromisoformat(check_ds(str(entry.get("ds"))))
        except ValueError:
            continue
        if entry.get("triggered_retrain"):
            triggers.append(day)
        if day < today_date and str(entry.get("version")) == today.version:
            below[day] = bool(entry.get("below"))
    previous = sorted(below)[-(consecutive_days - 1) :] if consecutive_days > 1 else []
    return sustained_outside_cooldown(
        today_date,
        previous,
        below,
        triggers,
        consecutive_days=consecutive_days,
        cooldown_days=cooldown_days,
        reasons=reasons,
        cause="performance",
        flagged="below-threshold",
    )
