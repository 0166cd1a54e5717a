"""The reference's bins and the statistics read off them: PSI, KS, Wasserstein and the mean shift.

Pure numpy on one column at a time; `retrain.drift.statistics` (what a day's drift is) and
`retrain.drift.calibration` (the null at the day's sample size) build on these. The definitions, their
sources and the speed notes are in `retrain.drift.statistics`' docstring.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "MAX_CATEGORIES",
    "MAX_SAMPLE_ROWS",
    "PSI_BINS",
    "PSI_EPSILON",
    "SUBSAMPLE_SEED",
    "Kind",
    "Profile",
    "as_float",
    "is_categorical",
    "numeric_counts",
    "profile",
    "psi",
    "psi_of_counts",
    "shape_statistics",
    "sorted_finite",
]

PSI_BINS = 10
"""Quantile bins of the reference for the PSI of a numeric feature (deciles)."""
MAX_CATEGORIES = 20
"""Categories of a categorical feature binned on their own (the most frequent in the reference)."""
PSI_EPSILON = 1e-4
"""The share an empty bin counts as, so that ln(current / reference) stays finite."""
MAX_SAMPLE_ROWS = 200_000
"""Rows per side above which KS, Wasserstein and the quantile edges use a seeded subsample."""
SUBSAMPLE_SEED = 0
"""Seed of the subsample, so that the same inputs always give the same numbers."""

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Profile:
    """How one reference column spreads over its PSI bins: what the day is binned by, and the null drawn from.

    Attributes:
        feature: The column name.
        kind: `numeric` or `categorical`.
        shares: The reference's share in each bin, the missing-value bin last (sums to 1).
        rows: Rows of the reference.
        edges: Numeric: the inner bin edges (bins (lo, hi]); empty for a categorical feature.
        categories: Categorical: the categories binned on their own (as text), then one "other" bin.
        values: Numeric: the reference's finite values, sorted (for KS and Wasserstein).
    """

    feature: str
    kind: Kind
    shares: np.ndarray
    rows: int
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    categories: tuple[str, ...] = ()
    values: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)

    def counts(self, values: pd.Series) -> np.ndarray:
        """The day's count per bin (the missing-value bin last), every row counted."""
        if self.kind == "numeric":
            return numeric_counts(*sorted_finite(as_float(values)), self.edges)
        return _categorical_counts(values, self.categories)


def is_categorical(reference: pd.Series, current: pd.Series | None = None) -> bool:
    """A column is categorical when it is boolean or not numeric on either side (text, object, category)."""

    def categorical(series: pd.Series) -> bool:
        return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)

    return categorical(reference) or (current is not None and categorical(current))


def as_float(values: pd.Series) -> np.ndarray:
    """The column as a flat float64 array; what does not read as a number is NaN."""
    return np.asarray(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)).ravel()


def sorted_finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(the finite values sorted, how many are missing): one sort serves the bins, the edges and KS."""
    finite = values[np.isfinite(values)]
    return np.sort(finite), int(values.size - finite.size)


def numeric_counts(sorted_values: np.ndarray, missing: int, edges: np.ndarray) -> np.ndarray:
    # Bins are (lo, hi]: the count up to an edge is searchsorted(side="right") on the sorted values.
    upto = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], upto, [sorted_values.size])))
    return np.append(counts, missing).astype(np.int64)


def _as_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(missing mask, values as text): booleans and numbers compare by their text, as they read in a CSV."""
    missing = np.asarray(values.isna().to_numpy(), dtype=bool)
    if values.dtype.kind == "f":
        missing |= ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
    text = values.astype("string").fillna("").to_numpy(dtype=object)
    return missing, text


def _categorical_counts(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    missing, text = _as_text(values)
    codes = pd.Categorical(text[~missing], categories=list(categories)).codes  # -1: not one of them
    counts = np.bincount(np.where(codes < 0, len(categories), codes), minlength=len(categories) + 1)
    return np.append(counts, int(missing.sum())).astype(np.int64)


def profile(
    reference: pd.Series, *, categorical: bool | None = None, max_sample_rows: int = MAX_SAMPLE_ROWS
) -> Profile:
    """The PSI bins of one reference column and the reference's share in each.

    Args:
        reference: The column over the reference window.
        categorical: Bin by category; None decides from the dtype (`is_categorical`).
        max_sample_rows: Numeric: the quantile edges come from a seeded subsample above this many rows.

    Returns:
        The profile; a column with no value at all has only the missing bin filled.
    """
    name = str(reference.name)
    rows = len(reference)
    if categorical if categorical is not None else is_categorical(reference):
        missing, text = _as_text(reference)
        frequent = pd.Series(text[~missing]).value_counts(sort=True)
        # Most frequent first, ties by text, so the bins do not depend on the row order.
        ordered = sorted(frequent.items(), key=lambda kv: (-kv[1], str(kv[0])))
        categories = tuple(str(k) for k, _ in ordered[:MAX_CATEGORIES])
        counts = _categorical_counts(reference, categories)
        return Profile(name, "categorical", counts / max(rows, 1), rows, categories=categories)
    ordered, missing = sorted_finite(as_float(reference))
    sample = _sample(ordered, max_sample_rows)
    edges = np.unique(_quantiles_sorted(sample, np.arange(1, PSI_BINS) / PSI_BINS)) if sample.size else np.empty(0)
    counts = numeric_counts(ordered, missing, edges)
    return Profile(name, "numeric", counts / max(rows, 1), rows, edges=edges, values=ordered)


def psi_of_counts(reference_shares: np.ndarray, current_counts: np.ndarray, *, epsilon: float = PSI_EPSILON) -> float:
    """PSI of the day's bin counts against the reference's bin shares (empty bins count as `epsilon`)."""
    total = current_counts.sum()
    if total == 0:
        return math.nan
    r = np.maximum(reference_shares, epsilon)
    c = np.maximum(current_counts / total, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: Any, current: Any, *, bins: int = PSI_BINS, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of numeric `current` against `reference`, over quantile bins of the reference.

    PSI = sum over bins of (c - r) * ln(c / r), with r and c the shares of each side in the bin, and
    empty bins counted as `epsilon`. Bins are (e[i-1], e[i]] with e the reference's 1/bins, ...,
    (bins-1)/bins quantiles and -inf / +inf at the ends (duplicate edges are merged), plus one bin for
    non-finite values (NaN, infinities).

    Returns:
        The PSI (>= 0), or NaN when either side is empty.
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cur = np.asarray(current, dtype=np.float64).ravel()
    if ref.size == 0 or cur.size == 0:
        return math.nan
    ordered, missing = sorted_finite(ref)
    edges = np.unique(_quantiles_sorted(ordered, np.arange(1, bins) / bins)) if ordered.size else np.empty(0)
    shares = numeric_counts(ordered, missing, edges) / ref.size
    return psi_of_counts(shares, numeric_counts(*sorted_finite(cur), edges), epsilon=epsilon)


def _quantiles_sorted(values: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """`np.quantile(values, probs)` (linear interpolation) for an already sorted array, without re-sorting."""
    position = probs * (values.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, values.size - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def _sample(values: np.ndarray, limit: int) -> np.ndarray:
    """A seeded subsample of `limit` values, in their order (a sorted array stays sorted), or every value."""
    if values.size <= limit:
        return values
    return values[_positions(values.size, limit)]


@functools.lru_cache(maxsize=8)
def _positions(size: int, limit: int) -> np.ndarray:
    """Sorted positions of a seeded subsample without replacement (drawn once per size: every column shares it)."""
    rng = np.random.default_rng(SUBSAMPLE_SEED)
    return np.sort(rng.choice(size, size=limit, replace=False))


def shape_statistics(ref: np.ndarray, cur: np.ndarray, max_sample_rows: int) -> tuple[float, float, float]:
    """KS statistic, Wasserstein and mean shift (both in reference sds) of two sorted arrays of finite values.

    KS and Wasserstein-1 are read off the two empirical CDFs on the merged sorted values, the definitions
    scipy's `ks_2samp(...).statistic` and `wasserstein_distance` use (tested equal to them), written out
    here because scipy's general versions cost ~20x more on already sorted data.
    """
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan, math.nan
    std = float(ref.std())
    scale = std if std > 0 and math.isfinite(std) else 1.0
    a, b = _sample(ref, max_sample_rows), _sample(cur, max_sample_rows)
    both = np.concatenate([a, b])
    both.sort(kind="stable")
    cdf_a = np.searchsorted(a, both, side="right") / a.size
    cdf_b = np.searchsorted(b, both, side="right") / b.size
    gap = np.abs(cdf_a - cdf_b)
    ks = float(gap.max())
    wasserstein = float(np.dot(gap[:-1], np.diff(both))) / scale
    return ks, wasserstein, (float(cur.mean()) - float(ref.mean())) / scale
