"""The deploy decision: a pure function that returns the decision together with its reasons.

Kept free of I/O so that the rule the team agreed on (`docs/DESIGN.md`, "The gate") is tested as a
table and the same reasons appear in the task log, in MLflow, in the model card and in `retrain status`.

Rule (`RETRAIN_GATE_METHOD=bootstrap`, the default, `decide_paired`): deploy iff the holdout is large
enough to decide AND the challenger's score is >= the threshold AND (there is no champion OR the lower
bound of the paired bootstrap interval of challenger − champion, re-scored on the same holdout rows, is
>= `min_improvement`). `RETRAIN_GATE_METHOD=point` (`decide`) compares the two point estimates instead.

Error rate: the lower bound of a two-sided interval at `RETRAIN_GATE_CONFIDENCE` (0.95) is a one-sided
test at (1 − 0.95) / 2 = 2.5 %: a challenger exactly as good as the champion deploys on about 2.5 % of
holdouts (`tests/unit/model/test_gate_calibration.py`: 6 of 200). On a real stream where nothing changed
the share can be a little higher, because two models fitted on different samples are not exactly as
good: a deploy there is often of a challenger really (if slightly) better. `bench/bench_gate.py` measures
both (the README's gate benchmark); `RETRAIN_MIN_IMPROVEMENT` asks for a gain worth a new model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TOLERANCE = 1e-12
"""Float noise allowance: 0.1 + 0.7 must count as reaching a threshold of 0.8."""


@dataclass(frozen=True)
class GateDecision:
    """The outcome of the gate, with everything needed to explain it later.

    Attributes:
        deploy: Whether the challenger should become the champion.
        challenger_score: The challenger's metric on the fresh holdout.
        champion_score: The champion's metric on the same holdout, or None when there is none.
        threshold: The minimum acceptable score (`RETRAIN_METRIC_THRESHOLD`).
        min_improvement: The margin required over the champion (`RETRAIN_MIN_IMPROVEMENT`).
        metric: The metric's name, e.g. `roc_auc`.
        reasons: Human sentences with the numbers, one per rule checked.
        method: `bootstrap` (paired interval) or `point` (point estimates).
        confidence: The interval's confidence level (bootstrap only).
        ci_low, ci_high: The interval of challenger − champion (None without a champion or an interval).
        challenger_ci_low, challenger_ci_high: The interval of the challenger's own score.
        holdout_rows: Rows of the holdout both models were scored on (None when not known).
        slices: The slice table (`retrain.model.slices.SliceResult.to_dict()` per slice), empty without
            `RETRAIN_SLICE_COLUMNS` or a champion to compare with.
    """

    deploy: bool
    challenger_score: float
    champion_score: float | None
    threshold: float
    min_improvement: float
    metric: str
    reasons: list[str] = field(default_factory=list)
    method: str = "point"
    confidence: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    challenger_ci_low: float | None = None
    challenger_ci_high: float | None = None
    holdout_rows: int | None = None
    slices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def decision(self) -> str:
        """`deploy` or `skip`: the word the ledger and `retrain status` use."""
        return "deploy" if self.deploy else "skip"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN scores become None, since JSON has no NaN)."""
        data = asdict(self)
        for key in (
            "challenger_score",
            "champion_score",
            "ci_low",
            "ci_high",
            "challenger_ci_low",
            "challenger_ci_high",
        ):
            value = data[key]
            if value is not None and math.isnan(value):
                data[key] = None
        data["decision"] = self.decision
        data["reasons"] = list(self.reasons)
        data["slices"] = [dict(s) for s in self.slices]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateDecision:
        """The inverse of `to_dict` (a None challenger score, a NaN on the way out, is NaN again)."""
        challenger = data.get("challenger_score")
        champion = data.get("champion_score")
        return cls(
            deploy=bool(data["deploy"]),
            challenger_score=math.nan if challenger is None else float(challenger),
            champion_score=None if champion is None else float(champion),
            threshold=float(data["threshold"]),
            min_improvement=float(data["min_improvement"]),
            metric=str(data["metric"]),
            reasons=[str(r) for r in data.get("reasons") or []],
            method=str(data.get("method") or "point"),
            confidence=_float(data.get("confidence")),
            ci_low=_float(data.get("ci_low")),
            ci_high=_float(data.get("ci_high")),
            challenger_ci_low=_float(data.get("challenger_ci_low")),
            challenger_ci_high=_float(data.get("challenger_ci_high")),
            holdout_rows=None if data.get("holdout_rows") is None else int(data["holdout_rows"]),
            slices=[dict(s) for s in data.get("slices") or []],
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _is_nan(value: float | None) -> bool:
    return value is not None and math.isnan(value)


def decide(
    challenger_score: float,
    champion_score: float | None,
    *,
    threshold: float,
    min_improvement: float,
    metric: str,
) -> GateDecision:
    """Apply the gate.

    Ties: with `min_improvement` 0.0 a challenger equal to the champion deploys (a fresh model on the
    same quality is preferred); with a positive `min_improvement` a tie skips. Comparisons allow a
    tolerance of 1e-12 so that float rounding never flips a decision. A NaN score (undefined metric)
    never deploys.

    Args:
        challenger_score: The challenger's score on the holdout.
        champion_score: The champion's score on the same holdout, or None when there is no champion.
        threshold: The minimum acceptable score.
        min_improvement: The required gain over the champion (>= 0).
        metric: The metric's name, used in the reasons.

    Returns:
        The decision and its reasons.

    Raises:
        ValueError: When the threshold or the required improvement is not a number or is negative;
            those are configuration errors, not data outcomes.
    """
    if math.isnan(threshold) or math.isnan(min_improvement):
        raise ValueError("the gate's threshold and min_improvement must be numbers, not NaN")
    if min_improvement < 0:
        raise ValueError(f"min_improvement must be >= 0, got {min_improvement}")
    challenger_score = float(challenger_score)
    champion_score = None if champion_score is None else float(champion_score)
    reasons: list[str] = []

    if math.isnan(challenger_score):
        reasons.append(f"{metric} is NaN (undefined on this holdout): a NaN score never deploys")
        passes_threshold = False
    elif challenger_score >= threshold - TOLERANCE:
        reasons.append(f"{metric} {challenger_score:.4f} ≥ threshold {threshold:.4f}")
        passes_threshold = True
    else:
        reasons.append(f"{metric} {challenger_score:.4f} < threshold {threshold:.4f}")
        passes_threshold = False

    if champion_score is None:
        reasons.append("no champion yet")
        beats_champion = True
    elif _is_nan(champion_score):
        reasons.append("champion's score is NaN on this holdout: cannot compare, so no deploy")
        beats_champion = False
    elif math.isnan(challenger_score):
        reasons.append(f"champion scores {champion_score:.4f}; no comparison with a NaN challenger")
        beats_champion = False
    else:
        gain = challenger_score - champion_score
        if gain >= min_improvement - TOLERANCE:
            if gain > TOLERANCE:
                reasons.append(f"beats champion {champion_score:.4f} by {gain:.4f} ≥ {min_improvement:.4f}")
            else:  # worded as a tie, not a gain; it passes, as the docstring's tie rule says
                reasons.append(f"ties champion {champion_score:.4f} ({gain:+.4f} ≥ {min_improvement:.4f})")
            beats_champion = True
        else:
            reasons.append(
                f"does not beat champion {champion_score:.4f} by enough: {gain:+.4f} < {min_improvement:.4f}"
            )
            beats_champion = False

    return GateDecision(
        deploy=passes_threshold and beats_champion,
        challenger_score=challenger_score,
        champion_score=champion_score,
        threshold=float(threshold),
        min_improvement=float(min_improvement),
        metric=metric,
        reasons=reasons,
    )


@dataclass(frozen=True)
class GatePolicy:
    """The gate's settings, in one value (`from_settings` reads them).

    Attributes:
        threshold: `RETRAIN_METRIC_THRESHOLD`.
        min_improvement: `RETRAIN_MIN_IMPROVEMENT`, the bound the interval's lower end must reach.
        method: `RETRAIN_GATE_METHOD`: `bootstrap` or `point`.
        confidence: `RETRAIN_GATE_CONFIDENCE` (two-sided).
        resamples: `RETRAIN_GATE_RESAMPLES`.
        min_rows, min_class_rows: `RETRAIN_GATE_MIN_ROWS` / `RETRAIN_GATE_MIN_CLASS_ROWS`.
        seed: `RETRAIN_SEED`, seeds the resampling.
    """

    threshold: float
    min_improvement: float = 0.0
    method: str = "bootstrap"
    confidence: float = 0.95
    resamples: int = 1000
    min_rows: int = 50
    min_class_rows: int = 10
    seed: int = 42

    @classmethod
    def from_settings(cls, settings: Any) -> GatePolicy:
        """The policy `settings` (a `retrain.settings.Settings`) describes."""
        return cls(
            threshold=settings.metric_threshold,
            min_improvement=settings.min_improvement,
            method=settings.gate_method,
            confidence=settings.gate_confidence,
            resamples=settings.gate_resamples,
            min_rows=settings.gate_min_rows,
            min_class_rows=settings.gate_min_class_rows,
            seed=settings.seed,
        )


def _too_small(y: Any, classes: list[Any], policy: GatePolicy) -> str | None:
    """Why the holdout is too small to decide on, or None."""
    import numpy as np

    labels = np.asarray(y).tolist()
    if len(labels) < policy.min_rows:
        return f"holdout too small to decide: {len(labels)} rows < RETRAIN_GATE_MIN_ROWS {policy.min_rows}"
    counts = {c: labels.count(c) for c in classes}
    rarest = min(counts, key=lambda c: counts[c])
    if counts[rarest] < policy.min_class_rows:
        return (
            f"holdout too small to decide: {counts[rarest]} rows of class {rarest!r} "
            f"< RETRAIN_GATE_MIN_CLASS_ROWS {policy.min_class_rows}"
        )
    return None


def _fmt_ci(low: float | None, high: float | None, confidence: float, signed: bool = False) -> str:
    spec = "+.4f" if signed else ".4f"
    return f"{confidence:.0%} CI [{low:{spec}}, {high:{spec}}]"


def decide_paired(
    metric: str,
    y: Any,
    classes: list[Any],
    challenger_proba: Any,
    champion_proba: Any | None,
    *,
    challenger_score: float,
    champion_score: float | None,
    policy: GatePolicy,
    slices: Mapping[str, Sequence[Any]] | None = None,
) -> GateDecision:
    """Apply the gate with a paired bootstrap interval (or the point rule when `policy.method == "point"`).

    Args:
        metric: The gate's metric.
        y: Holdout labels (n,).
        classes: The class labels, the column order of both probability matrices (the champion's
            columns must be reordered to these first; pass None for the champion when it knows other
            classes, and the comparison falls back to the point estimates with a reason saying so).
        challenger_proba, champion_proba: Class probabilities (n × k) of each model on the same rows.
        challenger_score, champion_score: The point estimates on the whole holdout (the scores the
            card and MLflow show); champion None when there is none.
        policy: Threshold, required improvement, confidence, resamples and size limits.
        slices: Slice column -> its values on the holdout rows (`RETRAIN_SLICE_COLUMNS`): with a
            champion to compare with, a slice on which the challenger is surely worse (the paired
            interval's upper bound < 0, `retrain.model.slices`) makes the gate skip, naming it.

    The comparison deploys when the interval's lower bound is >= `min_improvement` AND above 0: a
    bound of exactly 0 (the same model again, or two models perfect on the holdout) means "not worse",
    not "better".

    Returns:
        The decision, its reasons and the intervals. Never deploys on a holdout below the size limits,
        on a NaN score, or when more than 10 % of the resamples leave the metric undefined.

    Raises:
        ValueError: A threshold, improvement or confidence that is not a usable number.
    """
    point = decide(
        challenger_score,
        champion_score,
        threshold=policy.threshold,
        min_improvement=policy.min_improvement,
        metric=metric,
    )
    decision = _decide_paired(
        metric, y, classes, challenger_proba, champion_proba, point, challenger_score, champion_score, policy
    )
    if not slices or champion_proba is None or champion_score is None:
        return decision
    return _with_slices(decision, metric, y, classes, challenger_proba, champion_proba, slices, policy)


def _with_slices(
    decision: GateDecision,
    metric: str,
    y: Any,
    classes: list[Any],
    challenger_proba: Any,
    champion_proba: Any,
    slices: Mapping[str, Sequence[Any]],
    policy: GatePolicy,
) -> GateDecision:
    """The decision with the slice table, and a skip naming every slice the challenger is surely worse on."""
    from retrain.model.slices import compare_slices

    table = compare_slices(metric, y, classes, challenger_proba, champion_proba, slices, policy)
    worse = [s for s in table if s.verdict == "worse"]
    reasons = list(decision.reasons)
    if worse:
        reasons.extend(s.describe(metric, policy.confidence) for s in worse)
    else:
        compared = sum(s.verdict == "ok" for s in table)
        small = sum(s.verdict != "ok" for s in table)
        reasons.append(
            f"no slice of {', '.join(slices)} is surely worse ({compared} compared"
            + (f", {small} too small or undefined)" if small else ")")
        )
    return _replace(
        decision, deploy=decision.deploy and not worse, reasons=reasons, slices=[s.to_dict() for s in table]
    )


def _decide_paired(
    metric: str,
    y: Any,
    classes: list[Any],
    challenger_proba: Any,
    champion_proba: Any | None,
    point: GateDecision,
    challenger_score: float,
    champion_score: float | None,
    policy: GatePolicy,
) -> GateDecision:
    rows = len(y)
    if policy.method == "point":
        return _replace(point, holdout_rows=rows)
    if not 0.0 < policy.confidence < 1.0:
        raise ValueError(f"the gate's confidence must be in (0, 1), got {policy.confidence}")

    from retrain.model.compare import MAX_UNDEFINED_SHARE, paired_bootstrap

    small = _too_small(y, classes, policy)
    if small is not None:
        return _replace(point, deploy=False, method="bootstrap", holdout_rows=rows, reasons=[*point.reasons, small])
    comparison = paired_bootstrap(
        metric,
        y,
        classes,
        challenger_proba,
        champion_proba,
        confidence=policy.confidence,
        resamples=policy.resamples,
        seed=policy.seed,
    )
    level = policy.confidence
    own, diff = comparison.challenger, comparison.difference
    reasons = list(point.reasons[:1])
    if not math.isnan(point.challenger_score):
        reasons[0] += f" ({_fmt_ci(own.low, own.high, level)})"
    passes_threshold = not math.isnan(challenger_score) and challenger_score >= policy.threshold - TOLERANCE
    ci_low = ci_high = None
    if champion_score is None:
        reasons.append("no champion yet")
        beats = True
    elif champion_proba is None:
        reasons.append("champion knows other classes: no paired interval, the point estimates decide")
        reasons.extend(point.reasons[1:])
        beats = point.reasons[-1].startswith("beats")
    elif diff is None or math.isnan(diff.low):
        reasons.append("challenger − champion is undefined on every resample: cannot compare, so no deploy")
        beats = False
    else:
        ci_low, ci_high = diff.low, diff.high
        gain = challenger_score - champion_score
        interval = _fmt_ci(diff.low, diff.high, level, signed=True)
        if diff.undefined_share > MAX_UNDEFINED_SHARE:
            reasons.append(
                f"{metric} undefined on {diff.undefined} of {diff.resamples} resamples (one class drawn): "
                "the interval is not trusted, so no deploy"
            )
            beats = False
        elif diff.low >= policy.min_improvement - TOLERANCE and diff.low > TOLERANCE:
            reasons.append(
                f"beats champion {champion_score:.4f} by {gain:+.4f}, {interval}: "
                f"lower bound ≥ {policy.min_improvement:.4f} and above 0"
            )
            beats = True
        else:
            # A lower bound of exactly 0 (e.g. both models perfect, or the same model) says "not worse",
            # not "better": a challenger must be better with the chosen confidence, not tie.
            bound = (
                "not above 0" if diff.low >= policy.min_improvement - TOLERANCE else (f"< {policy.min_improvement:.4f}")
            )
            reasons.append(
                f"no sure gain over champion {champion_score:.4f}: {gain:+.4f}, {interval}: lower bound {bound}"
            )
            beats = False
        if diff.undefined > 0 and diff.undefined_share <= MAX_UNDEFINED_SHARE:
            reasons.append(f"{diff.undefined} of {diff.resamples} resamples left {metric} undefined and were dropped")
    return _replace(
        point,
        deploy=passes_threshold and beats,
        reasons=reasons,
        method="bootstrap",
        confidence=level,
        ci_low=ci_low,
        ci_high=ci_high,
        challenger_ci_low=None if math.isnan(own.low) else own.low,
        challenger_ci_high=None if math.isnan(own.high) else own.high,
        holdout_rows=rows,
    )


def _replace(decision: GateDecision, **changes: Any) -> GateDecision:
    return dataclasses.replace(decision, **changes)
