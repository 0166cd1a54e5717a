"""Land one day under raw/{ds}/: the user's own day from `RETRAIN_SOURCE`, else the synthetic stream.

The use case behind the `generate` task of the `generate_data` DAG, without Airflow:

1. No source set: generate the seeded synthetic day and write it (byte-identical on a rerun); its
   labels land `RETRAIN_LABEL_DELAY_DAYS` days later (0: with the features).
2. A source (`retrain.data.sources`: a folder of CSV or Parquet days, a database query, object
   storage): the source hands over the day as CSV files (features, and labels once they have arrived);
   they are validated completely (against the columns every earlier landed day shares) before a byte
   reaches raw/, then copied byte for byte. A day whose labels have not arrived lands its features only
   (enough to score and monitor; training uses labelled days).
2b. Labels arrive later: every landing also lands the labels that arrived since for earlier unlabelled
   days (the source's day now has them; the synthetic day `RETRAIN_LABEL_DELAY_DAYS` ago), each checked
   against the day's landed features. `Landed.labelled` lists them: they are the partitions of the
   labels asset event that starts `monitor_performance`.
3. A bad day (`BadDataError`): raw/ is left as it was, the day's files are COPIED to
   `quarantine/{ds}/` with a `reason.txt` (never moved or deleted; a symbolic link or anything not a
   plain file inside the source folder is never copied), and the error, naming where the day was
   set aside, is raised for the caller to fail at once: a retry cannot fix a file.
4. A day that has not arrived yet: `FileNotFoundError`, worth retrying; nothing is quarantined.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.data.errors import BadDataError
from retrain.jobs._payload import Payload
from retrain.layout import Layout, check_ds

if TYPE_CHECKING:
    from retrain.data.sources import Source
    from retrain.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Landed(Payload):
    """What a landing produced (the `generate` task's XCom): the day, where it came from ("source" or
    "synthetic"), the paths of its files under raw/{ds}/ (`target` None: labels not arrived yet), and
    every day whose labels landed in this run (`labelled`, oldest first; `ds` itself among them when
    its labels came with its features)."""

    ds: str
    origin: Literal["source", "synthetic"]
    data: str
    target: str | None
    labelled: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LandDay:
    """Land days into `layout` as `settings` say: from `source` when given (the Airflow adapter builds the
    kinds the core cannot open: `airflow://`, object storage), else from `settings.source`, else synthetic."""

    settings: Settings
    layout: Layout
    source: Source | None = None

    def run(self, ds: str) -> Landed:
        """Land day `ds` (YYYY-MM-DD) under raw/{ds}/ and say what was landed.

        Raises:
            BadDataError: the source day is unusable; it was quarantined and the message says where.
            FileNotFoundError: the source has no day `ds` yet (it may still arrive).
            ConfigurationError: the source's settings cannot work. TransientError: it did not answer.
            ValueError: `ds` is not a date of the form YYYY-MM-DD.
        """
        check_ds(ds)
        source = self.source
        if source is None and self.settings.source is not None:
            from retrain.data.sources import source_from_settings

            source = source_from_settings(self.settings)
        if source is None:
            data, labelled = self._land_synthetic_day(ds)
            target = self.layout.raw_target(ds)
            landed = Landed(ds, "synthetic", str(data), str(target) if target.is_file() else None, labelled)
        else:
            data, labels = self._land_source_day(source, ds)
            labelled = self._land_arrived_labels(source, before=ds)
            landed = Landed(
                ds, "source", str(data), str(labels) if labels else None, sorted([*labelled, *([ds] if labels else [])])
            )
            for day in landed.labelled:
                self._report_new_classes(day)
            if labels is None:
                log.info("day %s landed without labels (not arrived yet in %s)", ds, source.describe())
        log.info(
            "landed %s day %s at %s; labels landed for: %s",
            landed.origin,
            ds,
            Path(landed.data).parent,
            ", ".join(landed.labelled) or "no day",
        )
        return landed

    def _land_synthetic_day(self, ds: str) -> tuple[Path, list[str]]:
        """The day's features, and the labels of every landed day at least `label_delay_days` old."""
        from retrain.data.generate import generate_from_settings, write_features, write_labels

        data = write_features(self.layout, ds, generate_from_settings(self.settings, ds)[0])
        due_by = (date.fromisoformat(ds) - timedelta(days=self.settings.label_delay_days)).isoformat()
        # The day due today is (re)written even when present (a rerun emits the same labels event);
        # older unlabelled days catch up (a skipped day, or a shorter delay than before).
        due = [d for d in self.layout.feature_days(until=due_by) if d == due_by or not self.layout.day_landed(d)]
        for day in due:
            write_labels(self.layout, day, generate_from_settings(self.settings, day)[1])
        return data, due

    def _land_arrived_labels(self, source: Source, before: str) -> list[str]:
        """Land the labels that arrived for earlier unlabelled days; a bad one is quarantined, then raised.

        A day quarantined since its features landed is not retried here (land it again with
        `generate_data` for that day once its labels are fixed), so one bad label file does not fail every
        later landing; a quarantine older than the landed features (the day was fixed and landed since)
        is its history and does not stop its labels.
        """
        from retrain.data.load import land_labels

        landed: list[str] = []
        problems: list[BadDataError] = []
        for day in self.layout.feature_days(until=before):
            if day == before or self.layout.day_landed(day):
                continue
            if self._quarantined_since_landing(day):
                log.info("labels of %s not looked for: the day is in quarantine (%s)", day, self.layout.quarantine(day))
                continue
            staging = Path(tempfile.mkdtemp(prefix=f".staging-{day}-", dir=self.layout.root))
            origin = "RETRAIN_SOURCE"
            try:
                try:
                    fetched = source.fetch(day, staging)
                    origin = fetched.origin
                    if fetched.target is not None:
                        land_labels(fetched.target, self.layout, day)
                        landed.append(day)
                except FileNotFoundError:
                    continue
                except BadDataError as exc:
                    delivered = _as_delivered(exc, staging, origin)
                    problems.append(self._quarantine(source.day_files(day, staging), day, delivered))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if problems:
            log.info("labels landed for: %s", ", ".join(landed) or "no day")
            raise problems[0]
        return landed

    def _quarantined_since_landing(self, ds: str) -> bool:
        """Whether day `ds` was quarantined after its features landed (else its quarantine is history)."""
        reason = self.layout.quarantine_reason_file(ds)
        return reason is not None and reason.stat().st_mtime_ns >= self.layout.raw_data(ds).stat().st_mtime_ns

    def _land_source_day(self, source: Source, ds: str) -> tuple[Path, Path | None]:
        from retrain.data.load import land_files

        self.layout.root.mkdir(parents=True, exist_ok=True)
        # Converted days (Parquet, SQL, object storage) are staged beside raw/ (same file system), then landed.
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{ds}-", dir=self.layout.root))
        origin = "RETRAIN_SOURCE"
        try:
            try:
                day = source.fetch(ds, staging)
                origin = day.origin
                columns = self.expected_columns(ds)
                kinds = self.expected_kinds(ds, columns)
                return land_files(day.data, day.target, self.layout, ds, columns, kinds)
            except BadDataError as exc:
                raise self._quarantine(source.day_files(ds, staging), ds, _as_delivered(exc, staging, origin)) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def expected_columns(self, ds: str) -> list[str] | None:
        """The features every day must hold (in any order; extra columns are kept but ignored downstream).

        They are the columns all days landed before `ds` share, in the first day's order; the first
        day defines them (None).
        """
        from retrain.data.prepare import shared_columns

        earlier = [d for d in self.layout.feature_days() if d != ds]
        return shared_columns(self.layout, earlier) if earlier else None

    def expected_kinds(self, ds: str, columns: list[str] | None) -> dict[str, str] | None:
        """The kind of each feature column (`retrain.data.kinds`) in the latest day before `ds` holding a value in it.

        A day must hold numbers where earlier days did (text there is refused at its row). A day where a
        column held no value at all says nothing of its kind (a text column left empty that day is not a
        numeric one), so the days before it are asked, back over at most `RETRAIN_WINDOW_DAYS` landed days
        (what training reads); a column empty in all of them has no expected kind. None for the first
        day, whose kinds are inferred.
        """
        from retrain.data.prepare import present_kinds
        from retrain.data.validate import read_features

        earlier = [d for d in self.layout.feature_days() if d != ds]
        if not earlier or columns is None:
            return None
        before = [d for d in earlier if d < ds] or earlier
        kinds: dict[str, str] = {}
        for day in reversed(before[-self.settings.window_days :]):
            for name, kind in present_kinds(read_features(self.layout.raw_data(day), columns)).items():
                if kind is not None:
                    kinds.setdefault(name, kind)
            if len(kinds) == len(columns):
                break
        return kinds

    def _report_new_classes(self, ds: str) -> None:
        """Alert once, and record in the ledger, labels of `ds` that no earlier labelled day held."""
        from retrain.data.validate import label_set
        from retrain.notify import NewClassMessage, send
        from retrain.records import ledger

        earlier = [d for d in self.layout.labelled_days(until=ds) if d < ds]
        if not earlier or not self.layout.raw_target(ds).is_file():
            return
        known: set[str] = set()
        for day in earlier:
            known |= label_set(self.layout.raw_target(day))
        new = sorted(label_set(self.layout.raw_target(ds)) - known)
        path = self.settings.ledger_path
        if not new or ledger.find(path, ds=ds, decision="new_class") is not None:
            return
        log.warning("day %s holds label(s) %s that no earlier day held (known: %s)", ds, new, sorted(known))
        ledger.append(path, ledger.new_class_entry(ds, new, sorted(known)))
        message = NewClassMessage(self.settings.model_name, ds, new, sorted(known))
        send(self.settings, message, logger=log, outbox=self.settings.outbox_path)

    def _quarantine(self, files: list[Path], ds: str, exc: BadDataError) -> BadDataError:
        """Copy the day's plain files to quarantine/{ds}/; the error to raise, naming the folder if it worked."""
        from retrain.data.load import quarantine_day

        try:
            folder = quarantine_day(self.layout, ds, str(exc), files, copy=True)
        except OSError as problem:  # a failing quarantine never hides the data error
            log.warning("could not quarantine the bad day: %s", problem)
            return exc
        log.error("bad input: the day was quarantined to %s", folder)
        error = BadDataError(f"{exc} (the day was quarantined to {folder})")
        error.path, error.column, error.row, error.fix = exc.path, exc.column, exc.row, exc.fix
        return error


def _as_delivered(exc: BadDataError, staging: Path, origin: str) -> BadDataError:
    """`exc` located in the day as its source delivered it, when it names a converted copy in `staging`.

    A Parquet, SQL or object-storage day is converted to CSV in a staging folder that is gone once the
    landing ends: an error naming that copy (and its CSV line) would send the user to a file that never
    existed for them.
    """
    if exc.path is None or exc.path.parent != staging:
        return exc
    return exc.relocated(f"{exc.path.stem} of {origin} (as landing read it, converted to CSV)")
