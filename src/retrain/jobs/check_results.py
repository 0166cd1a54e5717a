"""What `retrain check` found: each reference set's result, the whole check's, and its Markdown summary.

The check itself (landing, training, the paired comparison with the baseline) is `retrain.jobs.check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from retrain.jobs._payload import Payload

Verdict = Literal["pass", "fail", "new"]


@dataclass(frozen=True)
class SetResult(Payload):
    """One reference set's outcome.

    Attributes:
        name, description: The set.
        metric: The metric compared (`RETRAIN_METRIC`).
        score, ci_low, ci_high: The new model's holdout score and its bootstrap interval.
        scores: Every metric of the new model on the holdout.
        train_rows, holdout_rows: Split sizes.
        data_sha256: SHA-256 over the landed days' files, in date order.
        holdout_sha256: SHA-256 of the holdout split file (rows can be paired only when it matches).
        baseline_score, baseline_ci_low, baseline_ci_high: The baseline's (None without one).
        diff, diff_low, diff_high: new − baseline and its interval (paired, or unpaired: None bounds).
        paired: Whether the rows were paired with the baseline model's probabilities.
        verdict: `pass`, `fail` or `new` (no baseline entry for this set).
        reason: One sentence with the numbers.
        warnings: Checksum or version changes, and why the comparison was unpaired.
        report: The retrain report of this set (HTML), where the check copied it.
    """

    name: str
    description: str
    metric: str
    score: float
    ci_low: float
    ci_high: float
    scores: dict[str, float]
    train_rows: int
    holdout_rows: int
    data_sha256: str
    holdout_sha256: str
    verdict: Verdict
    reason: str
    baseline_score: float | None = None
    baseline_ci_low: float | None = None
    baseline_ci_high: float | None = None
    diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    paired: bool = False
    warnings: list[str] = field(default_factory=list)
    report: str = ""


@dataclass(frozen=True)
class CheckResult(Payload):
    """The whole check: every set's result, the warnings that concern all sets, and where things went."""

    sets: list[SetResult]
    estimator: str
    estimator_params: dict[str, Any]
    tolerance: float
    confidence: float
    versions: dict[str, str]
    warnings: list[str]
    baseline: str
    baseline_written: bool = False

    @property
    def ok(self) -> bool:
        """No set is significantly worse than its baseline."""
        return all(s.verdict != "fail" for s in self.sets)


def summary_markdown(result: CheckResult) -> str:
    """The check as Markdown: one row per set, then the reasons, the warnings and the artifacts."""
    verdicts = {"pass": "✅ pass", "fail": "❌ worse", "new": "🆕 new"}
    ok = "passed" if result.ok else "FAILED: the model is significantly worse than the baseline"
    params = ", ".join(f"{k}={v}" for k, v in result.estimator_params.items()) or "defaults"
    lines = [
        f"## Model quality check: {ok}",
        "",
        f"Estimator `{result.estimator}` ({params}); baseline `{result.baseline}`; a set fails when "
        f"new − baseline is surely (paired bootstrap, {result.confidence:.0%} CI) below −{result.tolerance}.",
        "",
        "| data set | holdout rows | metric | baseline | new | new − baseline (CI) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result.sets:
        base = "—" if s.baseline_score is None else f"{s.baseline_score:.4f}"
        new = f"{s.score:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}]"
        if s.diff is None:
            diff = "—"
        elif s.diff_low is None or s.diff_high is None:
            diff = f"{s.diff:+.4f} (unpaired)"
        else:
            diff = f"{s.diff:+.4f} [{s.diff_low:+.4f}, {s.diff_high:+.4f}]"
        lines.append(f"| {s.name} | {s.holdout_rows} | {s.metric} | {base} | {new} | {diff} | {verdicts[s.verdict]} |")
    lines += ["", *(f"- **{s.name}**: {s.reason}" for s in result.sets)]
    warnings = [*result.warnings, *(w for s in result.sets for w in s.warnings)]
    if warnings:
        lines += ["", "Warnings (not failures):", "", *(f"- ⚠️ {w}" for w in warnings)]
    lines += ["", "Reports: " + ", ".join(f"`{s.report}`" for s in result.sets)]
    if result.baseline_written:
        lines += ["", f"Baseline rewritten: `{result.baseline}` (commit it with the probability files beside it)."]
    return "\n".join(lines) + "\n"
