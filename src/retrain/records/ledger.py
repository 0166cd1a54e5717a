"""An append-only JSONL ledger of every decision: the audit trail `retrain status` reads.

MLflow holds the runs and versions, but the story of *why* the champion is what it is (each gate
decision, each manual promotion or rollback, each drift event) must survive in one plain file that a
human can read with `cat` and that no tool ever rewrites. Writers take an exclusive `flock`, append
one whole line with a single `write`, and `fsync` before returning, so concurrent tasks never
interleave or lose a line, and a crash can at worst leave a torn last line, which readers skip.
"""

from __future__ import annotations

import functools
import logging
import math
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Sequence

    from retrain.drift import DayDrift, TriggerDecision
    from retrain.jobs.retrain_run import Approval
    from retrain.model.gate import GateDecision
    from retrain.performance import RealisedMetric

from retrain.io import append_jsonl, read_jsonl
from retrain.io import file_lock as file_lock  # re-exported: its old home, for importers not yet moved

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "drift", "performance", "manual"]
"""Why a retrain (or a manual change) happened: the one definition every layer uses."""
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
EventKind = Literal["deploy", "skip", "promote", "rollback", "drift", "performance", "new_class"]
"""The `decision` field of a ledger line: which kind of event it records."""
DECISIONS: frozenset[str] = frozenset(get_args(EventKind))
_OWNED = ("seq", "ts", "git_sha")


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the code that made a decision, when it runs from a git checkout; else None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither), in nested dicts, lists and tuples too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _check(entry: dict[str, Any]) -> None:
    owned = [k for k in _OWNED if k in entry]
    if owned:
        raise ValueError(f"the ledger sets {', '.join(owned)} itself; remove it from the entry")
    decision = entry.get("decision")
    if decision not in DECISIONS:
        raise ValueError(f"ledger entry decision {decision!r} is not one of {sorted(DECISIONS)}")
    trigger = entry.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        raise ValueError(f"ledger entry trigger {trigger!r} is not one of {sorted(TRIGGERS)}")


def append(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one event to the ledger and return it as written (with `seq`, `ts` and `git_sha`).

    Args:
        path: The ledger file (`settings.ledger_path`); created with its folder when missing.
        entry: The event, built by one of the entry builders below (`deploy_entry`, `skip_entry`,
            `no_new_data_entry`, `promote_entry`, `rollback_entry`, `drift_entry`, `performance_entry`).

    Returns:
        The entry as written: `seq` (1, 2, ... in file order), `ts` (UTC ISO 8601) and `git_sha` (the
        code's commit, None outside a git checkout) first.

    Raises:
        ValueError: When `decision` or `trigger` is not an accepted value, or the entry sets
            `seq`/`ts`/`git_sha` (the ledger sets those itself).
    """
    _check(entry)

    def numbered(previous: list[dict[str, Any]]) -> dict[str, Any]:
        seq = max((int(e.get("seq", 0) or 0) for e in previous), default=0) + 1
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        return {"seq": seq, "ts": now, "git_sha": git_sha(), **json_safe(entry)}

    return append_jsonl(path, numbered, sort_keys=False, ensure_ascii=False)


def read(path: Path) -> list[dict[str, Any]]:
    """Every entry, in the order written (oldest first); an absent ledger is empty."""
    return read_jsonl(path)


def find(path: Path, **match: Any) -> dict[str, Any] | None:
    """The latest entry whose fields equal all of `match`, or None.

    Used for idempotency: a rerun of the same day checks, e.g.,
    `find(path, ds=ds, decision="deploy", run_id=run_id)` before appending again.
    """
    for entry in reversed(read(path)):
        if all(key in entry and entry[key] == value for key, value in match.items()):
            return entry
    return None


def _gate_entry(
    kind: Literal["deploy", "skip"],
    decision: GateDecision,
    *,
    ds: str,
    trigger: Trigger,
    version: str | None,
    champion_version: str | None,
    run_id: str | None,
    window: Sequence[str],
    label: str | None,
    extra_reasons: Sequence[str] = (),
    approval: Approval | None = None,
) -> dict[str, Any]:
    days = sorted(window)
    approval_reasons = [approval.reason()] if approval is not None else []
    return {
        "ds": ds,
        "decision": kind,
        "trigger": trigger,
        "metric": decision.metric,
        "challenger_score": decision.challenger_score,
        "champion_score": decision.champion_score,
        "champion_version": champion_version,
        "threshold": decision.threshold,
        "min_improvement": decision.min_improvement,
        "version": version,
        "label": label,
        "reasons": [*decision.reasons, *approval_reasons, *extra_reasons],
        # The paired bootstrap interval of challenger − champion (None: point rule or no champion) and
        # of the challenger's own score.
        "gate_method": decision.method,
        "ci_low": decision.ci_low,
        "ci_high": decision.ci_high,
        "challenger_ci_low": decision.challenger_ci_low,
        "challenger_ci_high": decision.challenger_ci_high,
        # With RETRAIN_APPROVAL=required: who approved (None otherwise), and the whole answer (outcome,
        # by, at, comment); None when no person was asked.
        "approved_by": approval.approved_by if approval is not None else None,
        "approval": approval.to_dict() if approval is not None else None,
        "run_id": run_id,
        "window": [days[0], days[-1]] if days else [],
    }


def deploy_entry(
    decision: GateDecision,
    *,
    ds: str,
    trigger: Trigger,
    version: str,
    champion_version: str | None,
    run_id: str,
    window: Sequence[str],
    label: str | None = None,
    approval: Approval | None = None,
) -> dict[str, Any]:
    """A gate decision that deployed `version`: scores, threshold, reasons, run and window (first, last day).

    Args:
        decision: The gate's decision (`retrain.model.gate.GateDecision`, `deploy` True).
        ds: The retrain's logical date.
        trigger: Why the retrain ran.
        version: The registry version now champion.
        champion_version: The champion it was compared with (None: there was none).
        run_id: The challenger's MLflow run.
        window: The training window's days (recorded as its first and last day).
        label: The free-text model label (`RETRAIN_MODEL_VERSION`), when set.
        approval: The person's approval, when one was required (`approved_by` and `approval` record it).
    """
    if not decision.deploy:
        raise ValueError("deploy_entry records a decision to deploy; use skip_entry for a skip")
    if approval is not None and not approval.approved:
        raise ValueError(f"deploy_entry records an approved deploy; an approval {approval.outcome} is a skip")
    return _gate_entry(
        "deploy",
        decision,
        ds=ds,
        trigger=trigger,
        version=version,
        champion_version=champion_version,
        run_id=run_id,
        window=window,
        label=label,
        approval=approval,
    )


def skip_entry(
    decision: GateDecision,
    *,
    ds: str,
    trigger: Trigger,
    champion_version: str | None,
    run_id: str,
    window: Sequence[str],
    label: str | None = None,
    refused: str | None = None,
    approval: Approval | None = None,
) -> dict[str, Any]:
    """A retrain that did not deploy: the gate said skip, a person rejected it or nobody answered in
    time (`approval`), or (`refused`) the promotion was refused.

    `refused` is the reason a deploy the gate accepted did not happen (the champion moved since the
    comparison); it is added to the gate's reasons as `deploy refused: ...`. An approval's reason (who,
    when, their comment, or the timeout) is added too. Fields as `deploy_entry`, with `version` None.
    """
    not_approved = approval is not None and not approval.approved
    if decision.deploy and refused is None and not not_approved:
        raise ValueError(
            "skip_entry records a skip; a deploy the gate accepted needs the `refused` reason or a "
            "rejected / timed-out approval"
        )
    return _gate_entry(
        "skip",
        decision,
        ds=ds,
        trigger=trigger,
        version=None,
        champion_version=champion_version,
        run_id=run_id,
        window=window,
        label=label,
        extra_reasons=[f"deploy refused: {refused}"] if refused else [],
        approval=approval,
    )


def no_new_data_entry(
    *,
    ds: str,
    trigger: Trigger,
    champion_version: str,
    window: Sequence[str],
    reason: str,
    metric: str,
    threshold: float,
    label: str | None = None,
) -> dict[str, Any]:
    """A retrain that ended before training: its window holds no labelled day newer than the champion's.

    `decision` is "skip" with `reason` as its one reason; scores, interval and run are None (nothing was
    trained). `skipped_before_training` is True, which also makes a rerun find it instead of adding one.
    """
    days = sorted(window)
    return {
        "ds": ds,
        "decision": "skip",
        "trigger": trigger,
        "metric": metric,
        "challenger_score": None,
        "champion_score": None,
        "champion_version": champion_version,
        "threshold": threshold,
        "version": None,
        "label": label,
        "reasons": [reason],
        "ci_low": None,
        "ci_high": None,
        "approved_by": None,
        "run_id": None,
        "window": [days[0], days[-1]] if days else [],
        "skipped_before_training": True,
    }


def _manual_entry(
    kind: Literal["promote", "rollback"],
    *,
    ds: str,
    version: str,
    previous_version: str | None,
    reason: str,
    metric: str,
    threshold: float,
) -> dict[str, Any]:
    return {
        "ds": ds,
        "decision": kind,
        "trigger": "manual",
        "version": version,
        "previous_version": previous_version,
        "reasons": [reason],
        "challenger_score": None,
        "champion_score": None,
        "threshold": threshold,
        "metric": metric,
    }


def promote_entry(
    *, ds: str, version: str, previous_version: str | None, reason: str, metric: str, threshold: float
) -> dict[str, Any]:
    """A manual promotion (`retrain promote VERSION`): the new and previous champion and why.

    `ds` is the (UTC) day of the change; `metric`/`threshold` are the gate's settings at that time, so
    `retrain status` shows every history row with the same fields. Scores are None: no gate ran.
    """
    return _manual_entry(
        "promote",
        ds=ds,
        version=version,
        previous_version=previous_version,
        reason=reason,
        metric=metric,
        threshold=threshold,
    )


def rollback_entry(
    *, ds: str, version: str, previous_version: str | None, reason: str, metric: str, threshold: float
) -> dict[str, Any]:
    """A manual rollback (`retrain rollback`): `version` restored, `previous_version` rolled back from."""
    return _manual_entry(
        "rollback",
        ds=ds,
        version=version,
        previous_version=previous_version,
        reason=reason,
        metric=metric,
        threshold=threshold,
    )


def drift_entry(
    today: DayDrift,
    decision: TriggerDecision,
    *,
    reference_window: Sequence[str] | None = None,
    champion_version: str | None = None,
) -> dict[str, Any]:
    """One day assessed for drift, with the fields the drift trigger policy reads back.

    `trigger` is the kind of run that assessed the day ("schedule": the daily monitor), not whether it
    started a retrain: that is `triggered_retrain`.

    Returns:
        `decision` "drift", `trigger` "schedule", `ds`, `drifted`, `triggered_retrain`, `share`,
        `drifted_features`, the rule and its thresholds (`method`, the PSI floor, the null's level and
        size, or the fixed PSI / KS thresholds; the share), per-feature statistics (each with its PSI,
        its null quantile and the floor), the reasons, the reference
        window and the champion version it was compared with.
    """
    day = today.to_dict()
    return {
        "ds": today.ds,
        "decision": "drift",
        "trigger": "schedule",
        "drifted": bool(today.drifted),
        "triggered_retrain": bool(decision.should_retrain),
        "share": day["share"],
        "drifted_features": day["drifted_features"],
        "thresholds": {
            k: day[k]
            for k in ("method", "psi_floor", "null_level", "null_rows", "psi_threshold", "ks_threshold", "min_share")
        },
        "features": day["features"],
        "reasons": list(decision.reasons),
        "window": list(reference_window or []),
        "version": champion_version,
    }


def performance_entry(realised: RealisedMetric, decision: TriggerDecision, *, threshold: float) -> dict[str, Any]:
    """The realised metric of one scored day whose labels arrived, with what the performance trigger decided.

    `trigger` is the kind of run that measured it ("schedule": the labels' arrival), not whether it
    started a retrain: that is `triggered_retrain`.

    Returns:
        `decision` "performance", `trigger` "schedule", `ds`, `metric`, `value` (None when undefined,
        with `undefined_reason`), `rows`, `version` (the version that scored the day), `threshold`,
        `below`, `triggered_retrain` and the reasons.
    """
    return {
        "ds": realised.ds,
        "decision": "performance",
        "trigger": "schedule",
        "metric": realised.metric,
        "value": realised.value,
        "rows": realised.rows,
        "version": realised.version,
        "threshold": threshold,
        "below": realised.below(threshold),
        "undefined_reason": realised.reason,
        "triggered_retrain": bool(decision.should_retrain),
        "reasons": list(decision.reasons),
    }


def new_class_entry(ds: str, classes: Sequence[str], known: Sequence[str]) -> dict[str, Any]:
    """A landed day holding label(s) no earlier landed day held (recorded once per day).

    Args:
        ds: The day that landed.
        classes: The new labels, as text (the target file's own spelling), sorted.
        known: The labels of the earlier landed days, as text, sorted.

    Returns:
        `decision` "new_class", `trigger` "schedule", `ds`, `classes`, `known_classes`.
    """
    return {
        "ds": ds,
        "decision": "new_class",
        "trigger": "schedule",
        "classes": list(classes),
        "known_classes": list(known),
    }
