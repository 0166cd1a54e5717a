"""A seeded synthetic daily stream for binary classification, with drift that a retrain must catch.

Why synthetic: the whole system (gate, drift monitor, retrain, rollback) must be demonstrable from a
fresh clone with no data to download, and its tests need a stream whose drift is known in advance.

The stream:

- Features are standard normal, float64, rounded to 6 decimals (so the CSV text is short and reads
  back to exactly the numbers generated).
- The label is drawn from a logistic model of the features: a linear part on about 60% of the features
  (the rest are noise) plus two non-linear terms (a product of two features and a sine). Labels are
  Bernoulli draws, so even a perfect model scores a ROC AUC around 0.9, never 1.0.
- From `drift_start` the world changes over `RAMP_DAYS` days, in two ways at once: several features
  shift their mean (covariate shift, what the drift monitor sees) and the labelling weights move toward a
  second weight vector that uses previously useless features (concept change, what makes the old model
  wrong). A model trained before the drift drops to about 0.6 ROC AUC on fully drifted days; a model
  retrained on drifted days recovers to about 0.9.

With `mixed_types` (`RETRAIN_SYNTHETIC_MIXED_TYPES`) each day also holds the kinds a real export has,
drawn from their own random stream so the float features and the labels stay exactly as without them:
`segment` (text `low`/`mid`/`high`, the bucket of `f00` with 5 % of the rows relabelled at random and
8 % left empty), `active` (`True`/`False`: whether `f01` > 0, 10 % empty) and `visits` (a count). They
add no information beyond the float features (the labels do not depend on them), so they show the
whole path, from landing to `predictions.csv`, without changing what the stream is about.

Everything is a pure function of `(seed, ds)`: rerunning a day gives byte-identical files, and days can
be generated in any order or in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retrain.data import TARGET
from retrain.data.csvfile import write_csv
from retrain.layout import Layout, check_ds

if TYPE_CHECKING:
    from retrain.settings import Settings

RAMP_DAYS = 7
DECIMALS = 6

_SCALE = 2.5
"""Weight of the linear part: sets how separable the classes are (ROC AUC ~0.9 with the terms below)."""
_NONLINEAR = 1.0
_SHIFT = 1.5
"""Mean shift, in standard deviations, of the shifted features at full drift and strength 1."""
_CONCEPT_SALT = 0
"""Entropy slot of the concept's RNG: no date has ordinal 0, so it never collides with a day's RNG."""


def feature_names(n_features: int) -> list[str]:
    """Names `f00, f01, ...` (three digits from 100 features on), so that names sort like columns."""
    if n_features < 1:
        raise ValueError(f"n_features must be at least 1, got {n_features}")
    width = 3 if n_features >= 100 else 2
    return [f"f{i:0{width}d}" for i in range(n_features)]


@dataclass(frozen=True)
class _Concept:
    """The fixed parts of the world for one seed: weights before and after the drift, and who shifts."""

    w_old: np.ndarray
    w_new: np.ndarray
    old_terms: tuple[int, int, int]
    new_terms: tuple[int, int, int]
    shifted: np.ndarray


def _concept(seed: int, n_features: int) -> _Concept:
    rng = np.random.default_rng(np.random.SeedSequence([seed, _CONCEPT_SALT]))
    order = rng.permutation(n_features)
    informative = order[: max(2, round(0.6 * n_features))]
    w_old = np.zeros(n_features)
    w_old[informative] = rng.normal(size=len(informative))
    w_old /= np.linalg.norm(w_old)
    # The new concept is mostly orthogonal to the old one (and uses the noise features), with a small
    # overlap: an old model is then clearly worse but not inverted, as in a real change of behaviour.
    other = rng.normal(size=n_features)
    other -= (other @ w_old) * w_old
    other /= np.linalg.norm(other)
    w_new = 0.3 * w_old + 0.95 * other
    w_new /= np.linalg.norm(w_new)
    shifted = rng.choice(n_features, size=max(1, round(0.3 * n_features)), replace=False)
    return _Concept(
        w_old=w_old,
        w_new=w_new,
        old_terms=(int(order[0]), int(order[1]), int(order[-1])),
        new_terms=(int(order[-1]), int(order[-2]), int(order[2 % n_features])),
        shifted=np.sort(shifted),
    )


def drift_level(ds: str, drift_start: date | None) -> float:
    """How far the drift has ramped in on `ds`: 0 before `drift_start`, 1 from `RAMP_DAYS - 1` days after."""
    if drift_start is None:
        return 0.0
    days = (date.fromisoformat(check_ds(ds)) - drift_start).days
    return 0.0 if days < 0 else min(1.0, (days + 1) / RAMP_DAYS)


def generate_day(
    ds: str,
    *,
    rows: int,
    n_features: int,
    seed: int,
    drift_start: date | None,
    drift_strength: float,
    mixed_types: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:
    """One day of features and labels, a pure function of `(seed, ds)` and the drift settings.

    With `mixed_types`, the text, boolean and integer columns of the module docstring follow the floats.

    `drift_strength` scales the mean shift linearly (0 = no drift at all); the concept moves fully to the
    new weights at strength 1 and beyond (it is capped there, since a mix past the new concept has no
    meaning).

    Returns:
        Features (float64 columns `feature_names(n_features)`) and labels (int64 0/1 named `target`).
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if n_features < 2:
        raise ValueError(f"n_features must be at least 2 (the concept uses two features), got {n_features}")
    if drift_strength < 0:
        raise ValueError(f"drift_strength must be >= 0, got {drift_strength}")
    concept = _concept(seed, n_features)
    ramp = drift_level(ds, drift_start)
    mix = ramp * min(drift_strength, 1.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, date.fromisoformat(ds).toordinal()]))

    mean = np.zeros(n_features)
    mean[concept.shifted] = _SHIFT * ramp * drift_strength
    x = np.round(rng.normal(size=(rows, n_features)) + mean, DECIMALS)
    # The concept reads features relative to their current mean: the classes stay balanced under the
    # shift, so a drop in score comes from the model, not from a change in the base rate.
    z = x - mean
    weights = (1 - mix) * concept.w_old + mix * concept.w_new
    logit = _SCALE * (z @ weights)
    logit += (1 - mix) * _terms(z, concept.old_terms) + mix * _terms(z, concept.new_terms)
    labels = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    features = pd.DataFrame(x, columns=feature_names(n_features))
    if mixed_types:
        features = pd.concat([features, _mixed_columns(x, seed, ds)], axis=1)
    return features, pd.Series(labels, name=TARGET)


_MIXED_SALT = 1
"""Entropy slot of the mixed columns' RNG, so that they never change the floats' or the labels' draws."""


def _mixed_columns(x: np.ndarray, seed: int, ds: str) -> pd.DataFrame:
    """`segment` (text with gaps), `active` (boolean with gaps), `visits` (integer): see the module docstring."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, date.fromisoformat(ds).toordinal(), _MIXED_SALT]))
    rows = len(x)
    segment = np.asarray(["low", "mid", "high"], dtype=object)[np.digitize(x[:, 0], [-0.5, 0.5])]
    noisy = rng.random(rows) < 0.05
    segment[noisy] = rng.choice(["low", "mid", "high"], size=int(noisy.sum()))
    segment[rng.random(rows) < 0.08] = None
    active = (x[:, 1] > 0).astype(object)
    active[rng.random(rows) < 0.10] = None
    return pd.DataFrame({"segment": segment, "active": active, "visits": rng.poisson(3.0, size=rows)})


def _terms(z: np.ndarray, terms: tuple[int, int, int]) -> np.ndarray:
    """The non-linear part: an interaction that a linear model cannot see, and a wiggle."""
    a, b, c = terms
    return _NONLINEAR * (z[:, a] * z[:, b] + np.sin(2 * z[:, c]))


def write_day(layout: Layout, ds: str, X: pd.DataFrame, y: pd.Series) -> tuple[Path, Path]:
    """Write `raw/{ds}/data.csv` and `raw/{ds}/target.csv` atomically, byte-identical on a rerun."""
    if len(X) != len(y):
        raise ValueError(f"{len(X)} feature rows but {len(y)} labels for {ds}")
    return write_features(layout, ds, X), write_labels(layout, ds, y)


def write_features(layout: Layout, ds: str, X: pd.DataFrame) -> Path:
    """Write `raw/{ds}/data.csv` atomically (the day's features, without its labels)."""
    return write_csv(layout.raw_data(ds), X)


def write_labels(layout: Layout, ds: str, y: pd.Series) -> Path:
    """Write `raw/{ds}/target.csv` atomically (the day's labels, arriving with or after its features)."""
    return write_csv(layout.raw_target(ds), pd.DataFrame({TARGET: np.asarray(y, dtype=np.int64)}))


def generate_from_settings(settings: Settings, ds: str) -> tuple[pd.DataFrame, pd.Series]:
    """The synthetic day `ds` as the settings describe the stream (size, seed, drift)."""
    return generate_day(
        ds,
        rows=settings.rows_per_day,
        n_features=settings.n_features,
        seed=settings.seed,
        drift_start=settings.drift_start,
        drift_strength=settings.drift_strength,
        mixed_types=settings.synthetic_mixed_types,
    )


def generate_and_write(settings: Settings, layout: Layout, ds: str) -> tuple[Path, Path]:
    """Generate the day `ds` from the settings and land both its files in raw/ (no label delay)."""
    X, y = generate_from_settings(settings, ds)
    return write_day(layout, ds, X, y)
