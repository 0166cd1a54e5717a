"""The trigger policy: whether a drifted day starts a retrain, and the ledger entry that remembers it.

A drifted day (`retrain.drift.statistics.assess_day`) starts a retrain only when the drift is
sustained over `RETRAIN_DRIFT_CONSECUTIVE_DAYS` calendar days (hysteresis, so one odd day does
nothing) and no retrain was triggered by drift within `RETRAIN_DRIFT_COOLDOWN_DAYS` days (so a long
drift starts one retrain per cooldown window, not one a day). The policy reads its own history back
from the ledger's drift entries (`retrain.records.ledger.drift_entry` writes them), so it needs no state of its own.

Names: `should_retrain` is the yes/no answer; `trigger` elsewhere in the project is only the KIND of
trigger that started a retrain (`schedule`, `drift`, `performance`, `manual`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from retrain.drift.statistics import DayDrift
from retrain.layout import check_ds

__all__ = ["TriggerDecision", "should_trigger", "sustained_outside_cooldown"]


@dataclass(frozen=True)
class TriggerDecision:
    """Whether today's drift starts a retrain, with one sentence per rule checked.

    Attributes:
        should_retrain: True when the drift is sustained and outside the cooldown.
        reasons: One human-readable sentence per rule, in the order they were checked; the last one
            says "retrain triggered" or "no retrain triggered".
    """

    should_retrain: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`{"should_retrain": bool, "reasons": [str]}`."""
        return {"should_retrain": bool(self.should_retrain), "reasons": list(self.reasons)}


def _day(ds: Any) -> date | None:
    try:
        return date.fromisoformat(check_ds(str(ds)))
    except (TypeError, ValueError):
        return None


def should_trigger(
    history: Iterable[Mapping[str, Any]],
    today: DayDrift,
    *,
    consecutive_days: int,
    cooldown_days: int,
) -> TriggerDecision:
    """Decide whether today's drift triggers a retrain: sustained drift, outside the cooldown.

    Rules, each giving one reason:

    1. Today is drifted.
    2. Hysteresis: each of the previous `consecutive_days - 1` calendar days has a drift record with
       `drifted` true (the latest record of a day wins; a day without a record breaks the run).
    3. Cooldown: no drift record with `triggered_retrain` true lies within `cooldown_days` days of today
       (`|today - that day| < cooldown_days`, both directions, so a backfill of an older day cannot
       start a second retrain in the same window; a rerun of a day that already triggered is refused).
       Only retrains triggered by drift count: a scheduled weekly retrain does not hold a drift back,
       since the weekly one may have trained before the drift showed.

    Args:
        history: Earlier drift ledger entries (`decision == "drift"`; entries of other decisions are
            ignored), each with `ds`, `drifted` and `triggered_retrain`.
        today: Today's drift.
        consecutive_days: Drifted days in a row needed (>= 1).
        cooldown_days: Days after a drift-triggered retrain during which no other is triggered (>= 0).

    Returns:
        The decision and its reasons.

    Raises:
        ValueError: When `consecutive_days` < 1 or `cooldown_days` < 0.
    """
    check_hysteresis(consecutive_days, cooldown_days)
    today_date = date.fromisoformat(check_ds(today.ds))
    reasons: list[str] = []

    drifted_on: dict[date, bool] = {}
    triggers: list[date] = []
    for entry in history:
        if entry.get("decision", "drift") != "drift":
            continue
        day = _day(entry.get("ds"))
        if day is None:
            continue
        if day != today_date:
            drifted_on[day] = bool(entry.get("drifted"))
        if entry.get("triggered_retrain"):
            triggers.append(day)

    n_features = len(today.features)
    share_text = f"{len(today.drifted_features)} of {n_features} features drifted (share {today.share:.2f}"
    if not today.drifted:
        min_share = "" if math.isnan(today.min_share) else f" < {today.min_share:.2f}"
        reasons.append(f"{share_text}{min_share}): no drift today")
        return TriggerDecision(should_retrain=False, reasons=reasons)
    min_share = "" if math.isnan(today.min_share) else f" ≥ {today.min_share:.2f}"
    reasons.append(f"{share_text}{min_share}): {', '.join(today.drifted_features)}")

    previous = [today_date - timedelta(days=k) for k in range(consecutive_days - 1, 0, -1)]
    return sustained_outside_cooldown(
        today_date,
        previous,
        drifted_on,
        triggers,
        consecutive_days=consecutive_days,
        cooldown_days=cooldown_days,
        reasons=reasons,
        cause="drift",
        flagged="drifted",
    )


def check_hysteresis(consecutive_days: int, cooldown_days: int) -> None:
    """Refuse a hysteresis no monitor can use.

    Raises:
        ValueError: When `consecutive_days` < 1 or `cooldown_days` < 0.
    """
    if consecutive_days < 1:
        raise ValueError(f"consecutive_days must be >= 1, got {consecutive_days}")
    if cooldown_days < 0:
        raise ValueError(f"cooldown_days must be >= 0, got {cooldown_days}")


def sustained_outside_cooldown(
    today: date,
    previous: Sequence[date],
    flags: Mapping[date, bool],
    triggers: Iterable[date],
    *,
    consecutive_days: int,
    cooldown_days: int,
    reasons: list[str],
    cause: str,
    flagged: str,
) -> TriggerDecision:
    """The hysteresis and cooldown shared by every monitor (drift, realised performance); today is flagged.

    Args:
        today: The day being decided (already flagged: drifted, or below the threshold).
        previous: The `consecutive_days - 1` days before today that must be flagged too, oldest first
            (calendar days for drift, the previous labelled days for performance); fewer breaks the run.
        flags: Whether each earlier day was flagged (a day absent from it was not assessed).
        triggers: Days on which this cause already triggered a retrain.
        consecutive_days, cooldown_days: The two settings of the cause.
        reasons: The reasons so far; the rules' sentences are appended.
        cause: The cause's name in the reasons ("drift", "performance").
        flagged: The adjective of a flagged day in the reasons ("drifted", "below-threshold").

    Returns:
        Retrain iff every one of `previous` is flagged (and there are `consecutive_days - 1` of them) and
        no trigger lies within `cooldown_days` of today (both directions: a backfill of an older day
        cannot start a second retrain in the same window).
    """
    sustained = True
    if consecutive_days > 1:
        missing = [d.isoformat() for d in previous if not flags.get(d, False)]
        short = consecutive_days - 1 - len(previous)
        if missing or short > 0:
            sustained = False
            where = f"not {flagged} (or not assessed) on {', '.join(missing)}" if missing else ""
            if short > 0:
                where = f"{where}; " if where else ""
                where += f"only {len(previous)} earlier day(s) assessed"
            reasons.append(f"{cause} not yet sustained: {consecutive_days} consecutive {flagged} days needed, {where}")
        else:
            reasons.append(
                f"{cause} sustained over {consecutive_days} consecutive days ({previous[0]} to {today.isoformat()})"
            )
    else:
        reasons.append(f"one {flagged} day is enough (consecutive days = 1)")

    cooling = False
    if cooldown_days > 0:
        recent = sorted({d for d in triggers if abs((today - d).days) < cooldown_days})
        if recent:
            cooling = True
            last = recent[-1]
            ago = (today - last).days
            when = f"{ago} day(s) ago" if ago >= 0 else f"{-ago} day(s) later"
            reasons.append(
                f"cooldown: {cause} already triggered a retrain on {last.isoformat()} ({when}, < {cooldown_days} days)"
            )
        else:
            reasons.append(f"no retrain triggered by {cause} within {cooldown_days} days")
    else:
        reasons.append("no cooldown (cooldown days = 0)")

    should_retrain = sustained and not cooling
    reasons.append("retrain triggered" if should_retrain else "no retrain triggered")
    return TriggerDecision(should_retrain=should_retrain, reasons=reasons)
