"""Drift statistics between a reference window (the champion's training days) and one new day.

Drift is decided on an effect size, the PSI (population stability index), calibrated to the day's sample
size; never on a bare p-value (on a day of 100k rows a KS test flags a shift of a hundredth of a standard
deviation, which no model notices), and never on a fixed PSI threshold alone (on a 50-row day the PSI of
ten deciles is about 0.2 from sampling noise alone: fixed thresholds flag most features of small days).

The PSI, per feature, over bins of the reference:

- numeric features: 10 quantile bins of the reference (edges at its 10%, ..., 90% quantiles, -inf / +inf
  at the ends, bins (lo, hi]; a feature with many ties gets fewer bins, since equal quantiles merge);
- categorical features (text, boolean or any non-numeric column): one bin per category of the reference
  (its `MAX_CATEGORIES` most frequent; the rest, and categories never seen in the reference, share one
  "other" bin);
- both kinds: one more bin for missing values (empty cells, NaN, infinities), so that a column that
  suddenly arrives empty is drift too.

PSI = sum over bins of (c - r) * ln(c / r), with r and c the shares of the reference and of the day in
the bin and an empty bin counted as `PSI_EPSILON` so the logarithm stays finite. It is the symmetrised
Kullback-Leibler divergence (Jeffreys' J) of the two binned distributions.

Decision, `RETRAIN_DRIFT_METHOD=calibrated` (the default): a feature drifts when its PSI is beyond the
null distribution (what the reference produces against itself at the day's sample size,
`retrain.drift.calibration`) AND >= `RETRAIN_DRIFT_PSI_FLOOR` (0.1: below it a shift is "no significant
change" in the industry's rule of thumb, Siddiqi, *Credit Risk Scorecards*, Wiley 2006, ch. 8: < 0.1
stable, 0.1-0.25 some change, > 0.25 a real shift). Large days are then held to the floor, small days to
their noise. `RETRAIN_DRIFT_METHOD=fixed` keeps the older rule: `psi >= RETRAIN_DRIFT_PSI_THRESHOLD or
ks >= RETRAIN_DRIFT_KS_THRESHOLD`, whatever the sample size. A day drifts when the share of drifted
features is >= `RETRAIN_DRIFT_MIN_SHARE` (`assess_day`); whether a drifted day starts a retrain is the
trigger policy's business (`retrain.drift.trigger`).

Also reported for numeric features, not used by the calibrated decision: the two-sample
Kolmogorov-Smirnov statistic (the largest gap between the two empirical CDFs, as
`scipy.stats.ks_2samp(...).statistic`), the Wasserstein distance (the area between them, as
`scipy.stats.wasserstein_distance`) and the mean shift, both in reference standard deviations (unscaled
for a constant reference column).

Speed: the PSI counts are binary searches of the bin edges over every row. KS and Wasserstein sort the
values; above `MAX_SAMPLE_ROWS` (200,000) rows a side they, and the reference's quantile edges, use a
seeded subsample without replacement (`SUBSAMPLE_SEED`), so the same inputs always give the same numbers.
A 200k sample moves the KS statistic by about 0.003 at most (95%), far below any useful threshold.

Why not Evidently: Evidently (the drift library ML teams know) 0.7.23 fails to import with the pandas
3.1 this project runs on (`ImportError: cannot import name 'infer_dtype_from_object' from
pandas.core.dtypes.common`), so the statistics are computed here with numpy; the
definitions above are the textbook ones, written out so a reader can check them without a library's
defaults in between.

Everything here is pure: frames and numbers in, values out (the null's cache is `calibration`'s). This
module decides what a day's drift is; the bins and the statistics read off them are `retrain.drift.bins`'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from retrain.drift.bins import (
    MAX_SAMPLE_ROWS,
    Kind,
    Profile,
    as_float,
    is_categorical,
    numeric_counts,
    profile,
    psi_of_counts,
    shape_statistics,
    sorted_finite,
)
from retrain.layout import check_ds

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DayDrift", "DriftPolicy", "FeatureDrift", "assess_day", "feature_drift", "profiles_of"]

Method = Literal["calibrated", "fixed"]


@dataclass(frozen=True)
class DriftPolicy:
    """When a feature, and a day, count as drifted (`from_settings` reads the settings).

    Attributes:
        method: `calibrated` (the PSI beyond its null at the day's size and >= `psi_floor`) or `fixed`
            (`psi >= psi_threshold or ks >= ks_threshold`).
        min_share: A day drifts from this share of drifted features (`RETRAIN_DRIFT_MIN_SHARE`).
        psi_floor: The calibrated rule's effect-size floor (`RETRAIN_DRIFT_PSI_FLOOR`).
        confidence: The calibrated rule's day-level confidence (`RETRAIN_DRIFT_CONFIDENCE`).
        resamples: Draws of the null (`RETRAIN_DRIFT_NULL_RESAMPLES`).
        seed: Seeds the null (`RETRAIN_SEED`).
        psi_threshold, ks_threshold: The fixed rule's thresholds.
    """

    method: Method = "calibrated"
    min_share: float = 0.2
    psi_floor: float = 0.1
    confidence: float = 0.99
    resamples: int = 5000
    seed: int = 42
    psi_threshold: float = 0.2
    ks_threshold: float = 0.1

    @classmethod
    def from_settings(cls, settings: Any) -> DriftPolicy:
        """The policy `settings` (a `retrain.settings.Settings`) describes; a `DriftPolicy` is returned as is."""
        if isinstance(settings, DriftPolicy):
            return settings
        return cls(
            method=settings.drift_method,
            min_share=float(settings.drift_min_share),
            psi_floor=float(settings.drift_psi_floor),
            confidence=float(settings.drift_confidence),
            resamples=int(settings.drift_null_resamples),
            seed=int(settings.seed),
            psi_threshold=float(settings.drift_psi_threshold),
            ks_threshold=float(settings.drift_ks_threshold),
        )


@dataclass(frozen=True)
class FeatureDrift:
    """The drift statistics of one feature.

    Attributes:
        feature: The column name.
        psi: Population stability index over the reference's bins (>= 0): the decision's statistic.
        ks: Two-sample Kolmogorov-Smirnov statistic (0 = same CDF, 1 = disjoint); NaN for a category.
        wasserstein: Wasserstein distance in reference standard deviations; NaN for a category.
        mean_shift: (current mean - reference mean) in reference standard deviations, signed; NaN for a category.
        drifted: Whether the feature drifted under the day's rule.
        kind: `numeric` or `categorical`.
        null_quantile: The PSI the reference reaches against itself at the day's size with the null's
            level (calibrated rule; NaN otherwise): the PSI must be above it.
        floor: The effect size the PSI must reach too (`RETRAIN_DRIFT_PSI_FLOOR`; NaN under the fixed rule).
    """

    feature: str
    psi: float
    ks: float
    wasserstein: float
    mean_shift: float
    drifted: bool
    kind: Kind = "numeric"
    null_quantile: float = math.nan
    floor: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (six decimals; NaN becomes None)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "psi": _round(self.psi),
            "null_quantile": _round(self.null_quantile),
            "floor": _round(self.floor),
            "ks": _round(self.ks),
            "wasserstein": _round(self.wasserstein),
            "mean_shift": _round(self.mean_shift),
            "drifted": bool(self.drifted),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """The inverse of `to_dict` (None becomes NaN; records written before calibration read as numeric)."""
        return cls(
            feature=str(data["feature"]),
            psi=_float(data.get("psi")),
            ks=_float(data.get("ks")),
            wasserstein=_float(data.get("wasserstein")),
            mean_shift=_float(data.get("mean_shift")),
            drifted=bool(data.get("drifted", False)),
            kind="categorical" if data.get("kind") == "categorical" else "numeric",
            null_quantile=_float(data.get("null_quantile")),
            floor=_float(data.get("floor")),
        )


@dataclass(frozen=True)
class DayDrift:
    """One day compared with the reference window.

    Attributes:
        ds: The day (YYYY-MM-DD).
        features: Statistics per shared feature, in the reference's column order.
        drifted_features: Names of the drifted features.
        share: Drifted features / features compared (0.0 when there are none).
        drifted: Whether `share >= min_share`: the day counts as drifted.
        psi_threshold, ks_threshold, min_share: The thresholds the decision used (the PSI / KS
            thresholds are NaN under the calibrated rule, which does not use them).
        reference_rows, current_rows: Rows compared on each side.
        method: `calibrated` or `fixed`.
        psi_floor: The calibrated rule's effect-size floor (NaN under the fixed rule).
        null_level: The quantile of the null each feature's PSI must exceed (NaN under the fixed rule).
        null_rows: The sample size the null was drawn at (the day's rows rounded down; 0 if none).
        null_cached: Whether the null came from the cache.
    """

    ds: str
    features: list[FeatureDrift]
    drifted_features: list[str]
    share: float
    drifted: bool
    psi_threshold: float = math.nan
    ks_threshold: float = math.nan
    min_share: float = math.nan
    reference_rows: int = 0
    current_rows: int = 0
    method: str = "fixed"
    psi_floor: float = math.nan
    null_level: float = math.nan
    null_rows: int = 0
    null_cached: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-safe dict (NaN becomes None), for the ledger, XCom, MLflow and the report."""
        return {
            "ds": self.ds,
            "drifted": bool(self.drifted),
            "share": _round(self.share),
            "drifted_features": list(self.drifted_features),
            "method": self.method,
            "psi_floor": _round(self.psi_floor),
            "null_level": _round(self.null_level),
            "null_rows": int(self.null_rows),
            "psi_threshold": _round(self.psi_threshold),
            "ks_threshold": _round(self.ks_threshold),
            "min_share": _round(self.min_share),
            "reference_rows": int(self.reference_rows),
            "current_rows": int(self.current_rows),
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayDrift:
        """The inverse of `to_dict` (e.g. for a report built from a ledger entry or an XCom)."""
        features = [FeatureDrift.from_dict(f) for f in data.get("features") or []]
        drifted_features = data.get("drifted_features")
        return cls(
            ds=str(data["ds"]),
            features=features,
            drifted_features=(
                list(drifted_features) if drifted_features is not None else [f.feature for f in features if f.drifted]
            ),
            share=_float(data.get("share")),
            drifted=bool(data.get("drifted", False)),
            psi_threshold=_float(data.get("psi_threshold")),
            ks_threshold=_float(data.get("ks_threshold")),
            min_share=_float(data.get("min_share")),
            reference_rows=int(data.get("reference_rows") or 0),
            current_rows=int(data.get("current_rows") or 0),
            method=str(data.get("method") or "fixed"),
            psi_floor=_float(data.get("psi_floor")),
            null_level=_float(data.get("null_level")),
            null_rows=int(data.get("null_rows") or 0),
        )


def _round(value: float) -> float | None:
    """Six decimals are plenty for a drift table, and keep ledger lines short; NaN -> None (JSON)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _shared_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[Any]:
    return [c for c in reference.columns if c in current.columns]


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    psi_threshold: float = math.inf,
    ks_threshold: float = math.inf,
    null_quantiles: Mapping[str, float] | None = None,
    psi_floor: float = math.nan,
    max_sample_rows: int = MAX_SAMPLE_ROWS,
    profiles: Mapping[str, Profile] | None = None,
) -> list[FeatureDrift]:
    """Drift statistics of every column the two frames share, in the reference's column order.

    With `null_quantiles` (the calibrated rule) a feature drifts when `psi > null_quantiles[feature]` and
    `psi >= psi_floor`; without, when `psi >= psi_threshold or ks >= ks_threshold` (the fixed rule; a
    categorical feature has no KS).

    Args:
        reference: The reference window (the champion's training days).
        current: The new day.
        psi_threshold, ks_threshold: The fixed rule's thresholds.
        null_quantiles: Per feature, the PSI of the null at its level (`retrain.drift.calibration`).
        psi_floor: The calibrated rule's effect-size floor.
        max_sample_rows: Per side, the most rows KS, Wasserstein and the quantile edges look at.
        profiles: The reference's bins, when already computed (`profiles_of`).

    Returns:
        One `FeatureDrift` per shared column (NaN statistics, not drifted, for a column with no value
        on one side).

    Raises:
        ValueError: When the frames share no column.
    """
    columns = _shared_columns(reference, current)
    if not columns:
        raise ValueError(
            "the reference and the current data share no column: "
            f"reference has {list(reference.columns)[:10]}, current has {list(current.columns)[:10]}"
        )
    profiles = profiles if profiles is not None else profiles_of(reference, current, max_sample_rows)
    results = []
    nan = math.nan
    for name in columns:
        prof = profiles[str(name)]
        if prof.kind == "numeric":
            if prof.shares[:-1].sum() == 0:  # no value in the reference: nothing to compare the day with
                results.append(FeatureDrift(str(name), nan, nan, nan, nan, drifted=False))
                continue
            ordered, missing = sorted_finite(as_float(current[name]))
            counts = numeric_counts(ordered, missing, prof.edges)
            ks, wasserstein, shift = shape_statistics(prof.values, ordered, max_sample_rows)
        else:
            counts = prof.counts(current[name])
            ks = wasserstein = shift = nan
        value = psi_of_counts(prof.shares, counts)
        if null_quantiles is not None:
            quantile = float(null_quantiles.get(str(name), nan))
            drifted = bool(value > quantile and value >= psi_floor)
            floor = psi_floor
        else:
            quantile = floor = nan
            drifted = bool(value >= psi_threshold or (not math.isnan(ks) and ks >= ks_threshold))
        results.append(FeatureDrift(str(name), value, ks, wasserstein, shift, drifted, prof.kind, quantile, floor))
    return results


def profiles_of(
    reference: pd.DataFrame, current: pd.DataFrame | None = None, max_sample_rows: int = MAX_SAMPLE_ROWS
) -> dict[str, Profile]:
    """The PSI bins of every reference column (shared with `current` when given), keyed by name."""
    columns = list(reference.columns) if current is None else _shared_columns(reference, current)
    return {
        str(c): profile(
            reference[c],
            categorical=is_categorical(reference[c], None if current is None else current[c]),
            max_sample_rows=max_sample_rows,
        )
        for c in columns
    }


def assess_day(
    ds: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: Any,
    *,
    cache: Path | None = None,
) -> DayDrift:
    """Compare one day with the reference window under the settings' rule (calibrated or fixed).

    Args:
        ds: The day assessed.
        reference: The reference window's features.
        current: The day's features.
        settings: A `retrain.settings.Settings` or a `DriftPolicy`.
        cache: Calibrated rule: the file the null's quantiles are kept in for this reference and the
            day's size (`retrain.layout.Layout.drift_null_file`); None computes them without keeping them.

    Returns:
        The day's drift; `drifted` is `share >= min_share`.
    """
    from retrain.drift.calibration import day_null

    check_ds(ds)
    policy = DriftPolicy.from_settings(settings)
    profiles = profiles_of(reference, current)
    extra: dict[str, Any] = {}
    if policy.method == "calibrated":
        null = day_null(profiles, len(current), policy, cache=cache)
        features = feature_drift(
            reference, current, null_quantiles=null.quantiles, psi_floor=policy.psi_floor, profiles=profiles
        )
        extra = {
            "method": "calibrated",
            "psi_floor": policy.psi_floor,
            "null_level": null.level,
            "null_rows": null.rows,
            "null_cached": null.cached,
        }
    else:
        features = feature_drift(
            reference, current, psi_threshold=policy.psi_threshold, ks_threshold=policy.ks_threshold, profiles=profiles
        )
        extra = {"method": "fixed", "psi_threshold": policy.psi_threshold, "ks_threshold": policy.ks_threshold}
    drifted_features = [f.feature for f in features if f.drifted]
    share = len(drifted_features) / len(features) if features else 0.0
    return DayDrift(
        ds=ds,
        features=features,
        drifted_features=drifted_features,
        share=share,
        drifted=bool(drifted_features) and share >= policy.min_share - 1e-12,
        min_share=policy.min_share,
        reference_rows=len(reference),
        current_rows=len(current),
        **extra,
    )
