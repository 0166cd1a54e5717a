"""The deploy decision: a pure function that returns the decision together with its reasons.

Kept free of I/O so that the rule the team agreed on (`docs/DESIGN.md`, "The gate") is tested as a
table and the same reasons appear in the task log, in MLflow, in the model card and in `retrain status`.

Rule: deploy iff the challenger's score is >= the threshold AND (there is no champion OR the
challenger beats the champion, re-scored on the same holdout, by >= `min_improvement`).
"""

from __future__ import annotations

import math
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
    """

    deploy: bool
    challenger_score: float
    champion_score: float | None
    threshold: float
    min_improvement: float
    metric: str
    reasons: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        """`deploy` or `skip`: the word the ledger and `retrain status` use."""
        return "deploy" if self.deploy else "skip"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN scores become None, since JSON has no NaN)."""
        data = asdict(self)
        for key in ("challenger_score", "champion_score"):
            value = data[key]
            if value is not None and math.isnan(value):
                data[key] = None
        data["decision"] = self.decision
        data["reasons"] = list(self.reasons)
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
        )


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
            reasons.append(f"beats champion {champion_score:.4f} by {gain:.4f} ≥ {min_improvement:.4f}")
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
