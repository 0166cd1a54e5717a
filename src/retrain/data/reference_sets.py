"""The fixed reference data sets `retrain check` trains and scores on: nothing is downloaded.

Each set is a timeline of days landed exactly as the `generate_data` DAG lands them (the synthetic
stream, or a folder of `{ds}/data.csv` + `{ds}/target.csv` as `RETRAIN_SOURCE`), plus the settings
that fix its window and holdout. Everything is seeded, so a set is the same bytes on every machine
with the same library versions (its checksum, recorded in the baseline, says when that stops being so).

- `synthetic`: the project's seeded stream (`retrain.data.generate`), 14 days × 500 rows, no drift,
  10 features; holdout: half of the last 7 days (1,750 rows), binary, ROC AUC ≈ 0.9.
- `penguins`: the 342 penguins with complete measurements from `palmerpenguins` (a project
  dependency; its CSV is inside the wheel), shuffled (seed 0) into 6 days, five numeric columns, the
  species as labels (three classes); holdout: half of the last 3 days (~85 rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

PENGUIN_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year")


def timeline(start: str, n_days: int) -> tuple[str, ...]:
    """`n_days` consecutive logical dates (YYYY-MM-DD) from `start`."""
    first = date.fromisoformat(start)
    return tuple((first + timedelta(days=i)).isoformat() for i in range(n_days))


def write_penguin_days(source: Path, days: Sequence[str]) -> None:
    """Write the penguins, shuffled (seed 0), as one folder per day: `{ds}/data.csv` and `{ds}/target.csv`.

    The rows are split as evenly as possible over `days`; labels are the species names.
    """
    import palmerpenguins

    frame = palmerpenguins.load_penguins()  # inside the wheel: nothing is downloaded
    frame = frame.dropna(subset=list(PENGUIN_FEATURES)).sample(frac=1.0, random_state=0).reset_index(drop=True)
    for ds, rows in zip(days, np.array_split(np.arange(len(frame)), len(days)), strict=True):
        day = source / ds
        day.mkdir(parents=True, exist_ok=True)
        frame.loc[rows, list(PENGUIN_FEATURES)].to_csv(day / "data.csv", index=False)
        frame.loc[rows, ["species"]].rename(columns={"species": "target"}).to_csv(day / "target.csv", index=False)


@dataclass(frozen=True)
class ReferenceSet:
    """One reference data set: its days, how they are written, and the settings that fix its split.

    Attributes:
        name: The key in the baseline file.
        description: One line for the summary.
        days: The logical dates landed, oldest first; the retrain runs "as of" the last one.
        env: `RETRAIN_*` settings of this set (window, holdout, stream size); they override the
            environment, so only the estimator, its parameters and the metric come from the user.
        write_source: Writes the days as a `RETRAIN_SOURCE` folder; None for the synthetic stream.
    """

    name: str
    description: str
    days: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    write_source: Callable[[Path, Sequence[str]], None] | None = None


_SYNTHETIC_DAYS = timeline("2025-11-01", 14)
_PENGUIN_DAYS = timeline("2026-01-01", 6)

REFERENCE_SETS: dict[str, ReferenceSet] = {
    ref.name: ref
    for ref in (
        ReferenceSet(
            name="synthetic",
            description="seeded synthetic stream, 14 days of 500 rows, 10 features, binary",
            days=_SYNTHETIC_DAYS,
            env={
                "RETRAIN_ROWS_PER_DAY": "500",
                "RETRAIN_N_FEATURES": "10",
                "RETRAIN_DRIFT_STRENGTH": "0",
                "RETRAIN_WINDOW_DAYS": "14",
                "RETRAIN_HOLDOUT_DAYS": "7",
            },
        ),
        ReferenceSet(
            name="penguins",
            description="palmerpenguins, 342 complete rows in 6 days, 5 numeric features, 3 species",
            days=_PENGUIN_DAYS,
            env={"RETRAIN_WINDOW_DAYS": "6", "RETRAIN_HOLDOUT_DAYS": "3"},
            write_source=write_penguin_days,
        ),
    )
}
"""The built-in sets, in the order the check runs them."""

FIXED_ENV = {
    "RETRAIN_SEED": "42",
    "RETRAIN_HOLDOUT_FRACTION": "0.5",
    "RETRAIN_METRIC_THRESHOLD": "0.0",
    "RETRAIN_GATE_METHOD": "bootstrap",
    "RETRAIN_GATE_CONFIDENCE": "0.95",
    "RETRAIN_GATE_RESAMPLES": "1000",
}
"""Settings every set shares: the seed of every random choice, the split, and the interval's
confidence and resamples (fixed, so the baseline's interval and the new one are computed alike)."""

USER_SETTINGS = ("RETRAIN_ESTIMATOR", "RETRAIN_ESTIMATOR_PARAMS", "RETRAIN_METRIC")
"""What the check takes from the environment: the configured estimator, its parameters, the metric."""
