"""The PSI's null distribution at the day's sample size: what the reference produces against itself.

A PSI measured on n rows is never 0 even when nothing changed: each bin's share is off by about
sqrt(r(1-r)/n), and PSI ~ (1/n + 1/N) · chi-square(bins - 1) for large samples (Yurdakul, *Statistical
properties of the population stability index*, Western Michigan University, 2018). On small days, with
empty bins counted as 1e-4, it is larger still and no formula fits: so the null is drawn, not assumed.

The draw (a two-sample bootstrap under the null, Efron & Tibshirani, *An Introduction to the Bootstrap*,
1993, ch. 16: both samples come from one distribution, here the reference's): a day of n rows drawn from
the reference with replacement, binned like a real day, has bin counts ~ Multinomial(n, r), r the
reference's bin shares; a reference of N rows drawn the same way, ~ Multinomial(N, r). The PSI of the two,
drawn `resamples` times, is the null; only the bin counts matter, so they are drawn directly (no rows are
copied), and features with the same bin shares (every continuous feature: ten equal deciles) share one
draw. Its quantile at `level` is what a feature's PSI must exceed.

The level: a day drifts when at least m = ceil(min_share × F) of its F features drift. If each feature is
flagged by noise with probability at most a, the expected number of noise flags is F·a, so by Markov's
inequality P(m or more) <= F·a / m whatever the correlation between features. a = (1 - confidence) · m / F
keeps a stable day from counting as drifted with probability above 1 - confidence (0.01 by default);
`null_level` returns 1 - a. The draws are at least `MIN_TAIL / a`, so that the quantile is read off at least
`MIN_TAIL` draws in the tail.

The null depends on the reference (its bins and rows) and the day's size, so it is computed once per
champion and size and kept in a small JSON file (`Layout.drift_null_file`); the file holds a fingerprint
of everything it was computed from and is recomputed when any of it changed. Day sizes are rounded down to
two significant digits first (2,013 and 2,087 rows share the null of 2,000): a null drawn at a smaller
size is a little wider, so the rounding errs on the side of calling fewer days drifted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrain.drift.bins import PSI_EPSILON, Profile

if TYPE_CHECKING:
    from retrain.drift.statistics import DriftPolicy

__all__ = ["MIN_TAIL", "Null", "day_null", "null_level", "null_quantiles", "null_rows"]

log = logging.getLogger(__name__)

MIN_TAIL = 10
"""Draws of the null beyond its quantile, at least: fewer make the quantile mostly noise."""
FORMAT = 1
"""The cache file's format: a file of another format is recomputed."""


@dataclass(frozen=True)
class Null:
    """The null quantile of every feature's PSI at one sample size.

    Attributes:
        quantiles: Feature name -> the PSI the reference reaches against itself at `level`.
        level: The quantile's level (e.g. 0.998).
        rows: The sample size drawn at (the day's rows rounded down, `null_rows`).
        cached: Whether it was read from the cache file rather than drawn.
    """

    quantiles: dict[str, float]
    level: float
    rows: int
    cached: bool = False


def null_rows(rows: int) -> int:
    """The day's rows rounded down to two significant digits (2,013 -> 2,000; 87 -> 87): the null's size."""
    if rows < 100:
        return max(int(rows), 0)
    step = 10 ** (len(str(int(rows))) - 2)
    return int(rows) // step * step


def null_level(n_features: int, min_share: float, confidence: float) -> float:
    """The quantile of the null a feature's PSI must exceed, so that a stable day drifts with P <= 1 - confidence.

    Markov's inequality over the m = ceil(min_share × n_features) drifted features a drifted day needs
    (see the module docstring): per feature a = (1 - confidence) · m / n_features.

    Raises:
        ValueError: With no feature, or a confidence or share outside (0, 1].
    """
    if n_features < 1:
        raise ValueError(f"a null level needs at least one feature, got {n_features}")
    if not 0 < confidence < 1 or not 0 < min_share <= 1:
        raise ValueError(f"confidence must be in (0, 1) and min_share in (0, 1], got {confidence}, {min_share}")
    needed = max(1, math.ceil(min_share * n_features - 1e-9))
    return 1.0 - (1.0 - confidence) * needed / n_features


def _draws(level: float, resamples: int) -> int:
    return max(int(resamples), math.ceil(MIN_TAIL / (1.0 - level)))


def _null_psi(shares: np.ndarray, reference_rows: int, rows: int, draws: int, seed: int) -> np.ndarray:
    """PSI of `draws` pairs (a day of `rows`, a reference of `reference_rows`) drawn from `shares`."""
    p = np.clip(shares, 0.0, None)
    p = p / p.sum()
    key = zlib.crc32(np.round(p, 12).tobytes())
    rng = np.random.default_rng(np.random.SeedSequence([seed, rows, reference_rows, key]))
    ref = np.maximum(rng.multinomial(reference_rows, p, size=draws) / reference_rows, PSI_EPSILON)
    cur = np.maximum(rng.multinomial(rows, p, size=draws) / rows, PSI_EPSILON)
    return np.sum((cur - ref) * np.log(cur / ref), axis=1)


def null_quantiles(
    profiles: Mapping[str, Profile], rows: int, *, level: float, resamples: int, seed: int
) -> dict[str, float]:
    """Per feature, the `level` quantile of the PSI between two samples of the reference (`rows` and N rows).

    Features whose bin shares are equal share one draw. Pure and seeded: the same inputs give the same
    numbers.

    Args:
        profiles: The reference's bins per feature (`retrain.drift.statistics.profiles_of`).
        rows: The day's sample size (already rounded, `null_rows`).
        level: The quantile (`null_level`).
        resamples: Draws at least (more when the tail needs them: `MIN_TAIL`).
        seed: Seeds the draws.

    Returns:
        Feature name -> quantile (the "higher" order statistic: a conservative read); NaN with no rows.
    """
    if rows <= 0:
        return dict.fromkeys(profiles, math.nan)
    draws = _draws(level, resamples)
    by_shares: dict[tuple[bytes, int], float] = {}
    result: dict[str, float] = {}
    for name, prof in profiles.items():
        if prof.rows <= 0 or prof.shares.sum() <= 0:
            result[name] = math.nan
            continue
        key = (np.round(prof.shares, 12).tobytes(), prof.rows)
        if key not in by_shares:
            values = _null_psi(prof.shares, prof.rows, rows, draws, seed)
            by_shares[key] = float(np.quantile(values, level, method="higher"))
        result[name] = by_shares[key]
    return result


def _fingerprint(profiles: Mapping[str, Profile], rows: int, level: float, draws: int, seed: int) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT, rows, level, draws, seed]).encode())
    for name, prof in profiles.items():
        digest.update(name.encode() + b"\0" + prof.kind.encode() + str(prof.rows).encode())
        digest.update(np.asarray(prof.shares, dtype=np.float64).tobytes())
        digest.update(np.asarray(prof.edges, dtype=np.float64).tobytes())
        digest.update("\0".join(prof.categories).encode())
    return digest.hexdigest()[:32]


def day_null(profiles: Mapping[str, Profile], rows: int, policy: DriftPolicy, *, cache: Path | None = None) -> Null:
    """The null for a day of `rows` rows: read from `cache` when it holds this reference's, else drawn (and kept).

    Args:
        profiles: The reference's bins per feature.
        rows: The day's rows (rounded down with `null_rows` here).
        policy: Confidence, share rule, resamples and seed.
        cache: The cache file (`Layout.drift_null_file(champion_version, null_rows(rows))`), or None.

    Returns:
        The quantiles. A cache file that cannot be read or does not match is recomputed and rewritten.
    """
    from retrain.io import read_json, write_json

    size = null_rows(rows)
    level = null_level(max(len(profiles), 1), policy.min_share, policy.confidence)
    draws = _draws(level, policy.resamples)
    fingerprint = _fingerprint(profiles, size, level, draws, policy.seed)
    if cache is not None and cache.is_file():
        try:
            kept = read_json(cache)
            if kept.get("fingerprint") == fingerprint:
                quantiles = {k: math.nan if v is None else float(v) for k, v in kept["quantiles"].items()}
                return Null(quantiles, level, size, cached=True)
            log.info("drift null %s was computed from another reference or settings: recomputing it", cache)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("drift null %s is unreadable (%s): recomputing it", cache, exc)
    drawn = null_quantiles(profiles, size, level=level, resamples=policy.resamples, seed=policy.seed)
    # Six decimals, as the cache keeps them: a day reads the same quantiles drawn or cached.
    quantiles = {k: round(v, 6) if math.isfinite(v) else math.nan for k, v in drawn.items()}
    if cache is not None:
        write_json(
            cache,
            {
                "format": FORMAT,
                "fingerprint": fingerprint,
                "rows": size,
                "reference_rows": max((p.rows for p in profiles.values()), default=0),
                "level": level,
                "draws": draws,
                "seed": policy.seed,
                "quantiles": {k: (v if math.isfinite(v) else None) for k, v in quantiles.items()},
            },
        )
    return Null(quantiles, level, size, cached=False)
