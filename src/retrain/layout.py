"""Where every artifact lives, per logical date (`ds`, YYYY-MM-DD), under the data folder.

One place decides the paths so that DAGs, the CLI and tests never build them by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

CardPart = Literal["metrics", "params", "window", "decision", "model", "approval"]
"""The files of a model card under models/{ds}/ (`{part}.json`)."""

_DS = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SPLIT_KINDS = "kinds.json"
"""Beside train.csv and val.csv: the kind of each feature column (`retrain.data.kinds`), so the split reads
back exactly as it was written (text "1"/"0" stays text, booleans stay booleans)."""


def check_ds(ds: str) -> str:
    """A logical date as the folders use it; anything else is refused with the expected form."""
    if not isinstance(ds, str) or not _DS.match(ds):
        raise ValueError(f"logical date {ds!r} is not of the form YYYY-MM-DD")
    date.fromisoformat(ds)
    return ds


@dataclass(frozen=True)
class Layout:
    """Paths of one data folder: raw/, processed/, models/, predictions/, reports/, quarantine/."""

    root: Path

    def raw(self, ds: str) -> Path:
        return self.root / "raw" / check_ds(ds)

    def raw_data(self, ds: str) -> Path:
        return self.raw(ds) / "data.csv"

    def raw_target(self, ds: str) -> Path:
        return self.raw(ds) / "target.csv"

    def features_landed(self, ds: str) -> bool:
        """The day's features are in raw/ (written atomically: present means complete); enough to score."""
        return self.raw_data(ds).is_file()

    def day_landed(self, ds: str) -> bool:
        """Both files of the day are in raw/: features and labels, what training needs."""
        return self.features_landed(ds) and self.raw_target(ds).is_file()

    def processed(self, ds: str) -> Path:
        return self.root / "processed" / check_ds(ds)

    def train_file(self, ds: str) -> Path:
        return self.processed(ds) / "train.csv"

    def holdout_file(self, ds: str) -> Path:
        """The holdout split both models are scored on (its file name, val.csv, is part of the data layout)."""
        return self.processed(ds) / "val.csv"

    def val_file(self, ds: str) -> Path:
        """The holdout split: the older name of `holdout_file`."""
        return self.holdout_file(ds)

    def split_kinds_file(self, ds: str) -> Path:
        """The kinds of the split's feature columns (`SPLIT_KINDS`), written with train.csv and val.csv."""
        return self.processed(ds) / SPLIT_KINDS

    def prepared_file(self, ds: str) -> Path:
        """What a retrain of `ds` pinned on its first run (window, holdout days, champion), for reruns."""
        return self.processed(ds) / "prepared.json"

    def holdout_scores_file(self, ds: str) -> Path:
        """Both models' class probabilities on the holdout, with its labels: the report is drawn from them."""
        return self.processed(ds) / "holdout_scores.csv"

    def models(self, ds: str) -> Path:
        return self.root / "models" / check_ds(ds)

    def card_file(self, ds: str, part: CardPart) -> Path:
        """One file of the model card of the retrain of `ds`: models/{ds}/{part}.json."""
        return self.models(ds) / f"{part}.json"

    def predictions(self, ds: str) -> Path:
        return self.root / "predictions" / check_ds(ds)

    def predictions_file(self, ds: str) -> Path:
        return self.predictions(ds) / "predictions.csv"

    def predictions_meta(self, ds: str) -> Path:
        """`_meta.json` beside the day's predictions: model URI and version, rows, input checksum."""
        return self.predictions(ds) / "_meta.json"

    def prediction_parts(self, ds: str) -> Path:
        """`_parts/`: the part files of a `batch_predict` run in progress (removed once merged)."""
        return self.predictions(ds) / "_parts"

    def prediction_part(self, ds: str, index: int) -> Path:
        """The part file of the `index`-th row range (0-based) of a `batch_predict` run."""
        if index < 0:
            raise ValueError(f"a part index is >= 0, got {index}")
        return self.prediction_parts(ds) / f"part-{index:05d}.csv"

    def reports(self, ds: str) -> Path:
        return self.root / "reports" / check_ds(ds)

    def report_file(self, ds: str) -> Path:
        return self.reports(ds) / "report.html"

    def drift_null_file(self, champion_version: str, rows: int) -> Path:
        """The drift null of a champion's training window at a day size: drift/champion-{version}/null-{rows}.json.

        Kept beside the data because it is derived from it (the window's bins); deleting it only costs a
        recomputation (`retrain.drift.calibration`).
        """
        version = str(champion_version)
        if not _VERSION.match(version):
            raise ValueError(f"champion version {version!r} is not a registry version (letters, digits, - and _)")
        if rows < 0:
            raise ValueError(f"a day size is >= 0, got {rows}")
        return self.root / "drift" / f"champion-{version}" / f"null-{int(rows)}.json"

    def model_cache(self) -> Path:
        """`retrain predict`'s local copies of resolved models (`retrain.registry.cache`); safe to delete."""
        return self.root / "cache" / "models"

    def quarantine(self, ds: str) -> Path:
        return self.root / "quarantine" / check_ds(ds)

    def raw_days(self, until: str | None = None) -> list[str]:
        """Labelled days: both files in raw/ (what training needs), oldest first, up to and including `until`."""
        return [d for d in self.feature_days(until) if self.raw_target(d).is_file()]

    def labelled_days(self, until: str | None = None) -> list[str]:
        """The days whose labels have landed (the same as `raw_days`, named for what it means)."""
        return self.raw_days(until)

    def feature_days(self, until: str | None = None) -> list[str]:
        """Days whose features have landed (labels or not), oldest first, up to and including `until`."""
        base = self.root / "raw"
        if not base.is_dir():
            return []
        days = sorted(p.name for p in base.iterdir() if _DS.match(p.name) and (p / "data.csv").is_file())
        return [d for d in days if until is None or d <= until]

    def quarantine_reason_file(self, ds: str) -> Path | None:
        """The `reason.txt` of the day's latest quarantine, or None if it never was quarantined."""
        folder = self.quarantine(ds)
        reasons = [folder / "reason.txt", *sorted(folder.glob("attempt-*/reason.txt"), key=_attempt)]
        found = [r for r in reasons if r.is_file()]
        return found[-1] if found else None

    def quarantine_reason(self, ds: str) -> str | None:
        """The reason the day was last quarantined (its latest `reason.txt`), or None if it never was."""
        found = self.quarantine_reason_file(ds)
        if found is None:
            return None
        text = found.read_text(encoding="utf-8", errors="replace")
        line = next((ln for ln in text.splitlines() if ln.startswith("reason: ")), text.strip())
        return f"{line.removeprefix('reason: ')} (see {found})"


def _attempt(path: Path) -> int:
    return int(path.parent.name.removeprefix("attempt-") or 0)
