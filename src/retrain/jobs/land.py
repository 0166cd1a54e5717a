"""Land one day under raw/{ds}/: the user's own day from `RETRAIN_SOURCE`, else the synthetic stream.

The use case behind the `generate` task of the `generate_data` DAG, without Airflow:

1. No source set: generate the seeded synthetic day and write it (byte-identical on a rerun).
2. A source folder: the day's folder must hold `data.csv` and `target.csv`, both plain files inside
   the source folder; they are validated completely (against the columns every earlier landed day
   shares) before a byte reaches raw/, then copied byte for byte.
3. A bad day (`BadDataError`): raw/ is left as it was, the user's files are COPIED to
   `quarantine/{ds}/` with a `reason.txt` (never moved or deleted; a symbolic link or anything not a
   plain file inside the source folder is never copied), and the error, naming where the day was
   set aside, is raised for the caller to fail at once: a retry cannot fix a file.
4. A day whose folder does not exist yet: `FileNotFoundError`, "not arrived", worth retrying; nothing
   is quarantined.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.data.errors import BadDataError
from retrain.jobs._payload import Payload
from retrain.layout import Layout, check_ds

if TYPE_CHECKING:
    from retrain.settings import Settings

log = logging.getLogger(__name__)

FILES = ("data.csv", "target.csv")


@dataclass(frozen=True)
class Landed(Payload):
    """What a landing produced (the `generate` task's XCom): the day, where it came from ("source" or
    "synthetic"), and the paths of its two files under raw/{ds}/."""

    ds: str
    origin: Literal["source", "synthetic"]
    data: str
    target: str


@dataclass(frozen=True)
class LandDay:
    """Land days into `layout` as `settings` say (`settings.source`: None for the synthetic stream)."""

    settings: Settings
    layout: Layout

    def run(self, ds: str) -> Landed:
        """Land day `ds` (YYYY-MM-DD) under raw/{ds}/ and say what was landed.

        Raises:
            BadDataError: the source day is unusable; it was quarantined and the message says where.
            FileNotFoundError: the source has no folder for `ds` yet (it may still arrive).
            ValueError: `ds` is not a date of the form YYYY-MM-DD.
        """
        check_ds(ds)
        if self.settings.source is None:
            from retrain.data.generate import generate_and_write

            data, target = generate_and_write(self.settings, self.layout, ds)
            landed = Landed(ds, "synthetic", str(data), str(target))
        else:
            data, target = self._land_source_day(Path(self.settings.source), ds)
            landed = Landed(ds, "source", str(data), str(target))
        log.info("landed %s day %s at %s", landed.origin, ds, Path(landed.data).parent)
        return landed

    def _land_source_day(self, source: Path, ds: str) -> tuple[Path, Path]:
        from retrain.data.load import land_day

        try:
            self._check_complete(source, ds)
            return land_day(source, self.layout, ds, expected_columns=self.expected_columns(ds))
        except BadDataError as exc:
            raise self._quarantine(source, ds, exc) from exc

    @staticmethod
    def _check_complete(source: Path, ds: str) -> None:
        """A day folder that exists but lacks one of its files was delivered half: bad data, not "not yet"."""
        from retrain.data.load import unsafe_source_file

        day = source / ds
        if unsafe_source_file(source, day) is not None or not day.is_dir():
            return  # land_day refuses an unsafe folder, and reports a missing one as not arrived
        for name in FILES:
            file = day / name
            if not os.path.lexists(file):
                raise BadDataError.at(
                    file,
                    f"the day folder {day} exists but this file is missing",
                    fix="deliver data.csv and target.csv together (copy the day's folder as a whole)",
                )

    def expected_columns(self, ds: str) -> list[str] | None:
        """The features every day must hold (in any order; extra columns are kept but ignored downstream).

        They are the columns all days landed before `ds` share, in the first day's order; the first
        day defines them (None).
        """
        from retrain.data.prepare import shared_columns

        earlier = [d for d in self.layout.raw_days() if d != ds]
        return shared_columns(self.layout, earlier) if earlier else None

    def _quarantine(self, source: Path, ds: str, exc: BadDataError) -> BadDataError:
        """Copy the day's plain files to quarantine/{ds}/; the error to raise, naming the folder if it worked."""
        from retrain.data.load import quarantine_day, unsafe_source_file

        day = source / ds
        files = [] if unsafe_source_file(source, day) else [day / name for name in FILES]
        safe = [f for f in files if unsafe_source_file(source, f) is None and f.is_file()]
        try:
            folder = quarantine_day(self.layout, ds, str(exc), safe, copy=True)
        except OSError as problem:  # a failing quarantine never hides the data error
            log.warning("could not quarantine the bad day: %s", problem)
            return exc
        log.error("bad input: the day was quarantined to %s", folder)
        error = BadDataError(f"{exc} (the day was quarantined to {folder})")
        error.path, error.column, error.row, error.fix = exc.path, exc.column, exc.row, exc.fix
        return error
