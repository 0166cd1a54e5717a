"""Per-slice no-regression: a challenger better on the whole holdout must not be surely worse on a slice.

A slice is the holdout rows sharing one value of a feature named in `RETRAIN_SLICE_COLUMNS` (a category,
or a value of a numeric column with few distinct values; missing values form a slice of their own). On
every slice with enough rows to decide (the gate's own limits, `RETRAIN_GATE_MIN_ROWS` and
`RETRAIN_GATE_MIN_CLASS_ROWS`) the paired bootstrap of `retrain.model.compare` gives the interval of
challenger − champion on those rows; a slice whose interval lies wholly below 0 (upper bound < 0) is a
regression, and the gate skips naming it. "Not surely worse" rather than "surely better": a slice is
smaller than the holdout, so asking each slice for a proven gain would skip nearly every retrain.

Pure: arrays in, a table out; `retrain.model.gate.decide_paired` applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from retrain.model.gate import GatePolicy

__all__ = ["MAX_SLICES", "SliceResult", "compare_slices"]

MAX_SLICES = 50
"""Distinct values a slice column may have: more is a continuous column, not a set of slices."""
MISSING = "(missing)"
"""The label of the slice of rows whose value is missing."""

Verdict = str
"""`worse` (interval wholly below 0), `ok`, `too small`, `undefined` (metric undefined on the slice)."""


@dataclass(frozen=True)
class SliceResult:
    """One slice: its rows, both scores, the interval of challenger − champion, and the verdict.

    Attributes:
        column, value: The feature and its value (as text; `(missing)` for missing values).
        rows: Holdout rows in the slice.
        challenger, champion: The metric on the slice's rows (None when undefined or not computed).
        ci_low, ci_high: The interval of challenger − champion (None when the slice is too small).
        verdict: `worse`, `ok`, `too small` or `undefined`.
        note: Why a slice was not compared (too small, undefined), else empty.
    """

    column: str
    value: str
    rows: int
    challenger: float | None
    champion: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SliceResult:
        """The inverse of `to_dict`."""
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def describe(self, metric: str, confidence: float) -> str:
        """One sentence for the gate's reasons."""
        where = f"slice {self.column}={self.value} ({self.rows} rows)"
        if self.verdict in ("worse", "ok") and self.ci_low is not None and self.ci_high is not None:
            gain = (self.challenger or 0.0) - (self.champion or 0.0)
            interval = f"{confidence:.0%} CI [{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
            if self.verdict == "worse":
                return f"worse on {where}: {metric} {gain:+.4f}, {interval}: upper bound below 0"
            return f"{where}: {metric} {gain:+.4f}, {interval}"
        return f"{where}: {self.note}"


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _slices(values: Sequence[Any]) -> list[tuple[str, np.ndarray]] | None:
    """(label, row mask) per distinct value, missing values last; None with more than `MAX_SLICES` values."""
    series = pd.Series(values).reset_index(drop=True)
    missing = series.isna().to_numpy()
    distinct = pd.unique(series[~missing])
    if len(distinct) > MAX_SLICES:
        return None
    ordered = sorted(distinct, key=lambda v: _label(v))
    out = [(_label(v), (series == v).to_numpy() & ~missing) for v in ordered]
    if missing.any():
        out.append((MISSING, missing))
    return out


def compare_slices(
    metric: str,
    y: Any,
    classes: list[Any],
    challenger_proba: Any,
    champion_proba: Any,
    columns: Mapping[str, Sequence[Any]],
    policy: GatePolicy,
) -> list[SliceResult]:
    """The slice table: every value of every slice column, compared on its own rows.

    Args:
        metric: The gate's metric.
        y: Holdout labels (n,).
        classes: The class labels, the column order of both probability matrices.
        challenger_proba, champion_proba: Both models' class probabilities on the holdout (n × k).
        columns: Slice column name -> its values on the holdout rows (n each).
        policy: The gate's confidence, resamples, seed and size limits.

    Returns:
        One row per slice, columns in the given order, values sorted as text.

    Raises:
        retrain.errors.ConfigurationError: A column with more than `MAX_SLICES` distinct values (it is
            no slice column).
        ValueError: Values not aligned with `y`.
    """
    from retrain.errors import ConfigurationError
    from retrain.model.compare import MAX_UNDEFINED_SHARE, encode, paired_bootstrap, weighted_metric
    from retrain.model.gate import _too_small

    labels = np.asarray(y)
    challenger = np.asarray(challenger_proba, dtype=np.float64)
    champion = np.asarray(champion_proba, dtype=np.float64)
    results: list[SliceResult] = []
    for column, values in columns.items():
        if len(values) != labels.size:
            raise ValueError(f"slice column {column!r} has {len(values)} values for {labels.size} holdout rows")
        slices = _slices(values)
        if slices is None:
            raise ConfigurationError(
                f"RETRAIN_SLICE_COLUMNS: {column!r} has more than {MAX_SLICES} distinct values in the holdout; "
                "name categorical or low-cardinality columns only"
            )
        for value, mask in slices:
            rows = int(mask.sum())
            part_y = labels[mask]
            codes = encode(part_y, classes)
            ones = np.ones((1, rows))
            own = float(weighted_metric(metric, codes, challenger[mask], ones)[0]) if rows else math.nan
            theirs = float(weighted_metric(metric, codes, champion[mask], ones)[0]) if rows else math.nan
            scores = (None if math.isnan(own) else own, None if math.isnan(theirs) else theirs)
            small = _too_small(part_y, classes, policy)
            if small is not None:
                note = small.replace("holdout too small to decide: ", "too small to decide: ")
                results.append(SliceResult(column, value, rows, *scores, None, None, "too small", note))
                continue
            comparison = paired_bootstrap(
                metric,
                part_y,
                classes,
                challenger[mask],
                champion[mask],
                confidence=policy.confidence,
                resamples=policy.resamples,
                seed=policy.seed,
            )
            diff = comparison.difference
            if diff is None or math.isnan(diff.low) or diff.undefined_share > MAX_UNDEFINED_SHARE:
                note = f"{metric} undefined on too many resamples of the slice"
                results.append(SliceResult(column, value, rows, *scores, None, None, "undefined", note))
                continue
            verdict = "worse" if diff.high < 0 else "ok"
            results.append(SliceResult(column, value, rows, *scores, diff.low, diff.high, verdict))
    return results
