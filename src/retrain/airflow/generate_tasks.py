"""Task callables of the `generate_data` DAG: land one day under raw/{ds}/.

A user's day (RETRAIN_SOURCE) is validated completely before a byte reaches raw/. A bad day fails the
task at once (no retries: a retry cannot fix the file), leaves raw/ as it was, and is COPIED to
`quarantine/{ds}/` with a `reason.txt`: the user's own files are never moved or deleted. A day whose
folder does not exist yet is "not arrived": that is retried, and nothing is quarantined.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout

log = logging.getLogger(__name__)


def generate(ds: str) -> dict:
    """Write raw/{ds}/data.csv and target.csv: the user's own day when RETRAIN_SOURCE is set, else synthetic."""
    settings, layout = settings_and_layout()
    if settings.source is not None:
        data_path, target_path = _land_source_day(settings.source, layout, ds)
        origin = "source"
    else:
        from retrain.data.generate import generate_and_write

        with fail_fast_on_bad_input():
            data_path, target_path = generate_and_write(settings, layout, ds)
        origin = "synthetic"
    log.info("landed %s day %s at %s", origin, ds, data_path.parent)
    return {"ds": ds, "origin": origin, "data": str(data_path), "target": str(target_path)}


def _land_source_day(source: Path, layout: Any, ds: str) -> tuple[Path, Path]:
    from retrain.data.errors import DataValidationError
    from retrain.data.load import land_day, quarantine_day

    day = Path(source) / ds
    files = [day / "data.csv", day / "target.csv"]

    def quarantine(exc: DataValidationError) -> Path | None:
        present = [f for f in files if f.is_file()]
        return quarantine_day(layout, ds, str(exc), present, copy=True)

    with fail_fast_on_bad_input(quarantine):
        if day.is_dir():
            for file in files:
                if not file.is_file():  # the day was delivered without one of its files
                    raise DataValidationError.at(
                        file,
                        f"the day folder {day} exists but this file is missing",
                        fix="deliver data.csv and target.csv together (copy the day's folder as a whole)",
                    )
        return land_day(source, layout, ds, expected_columns=_expected_columns(layout, ds))


def _expected_columns(layout: Any, ds: str) -> list[str] | None:
    """The features every day must hold (in any order; extra columns are kept but ignored downstream).

    They are the columns all days landed before `ds` share, in the first day's order; the first day
    defines them.
    """
    from retrain.data.prepare import shared_columns

    earlier = [d for d in layout.raw_days() if d != ds]
    return shared_columns(layout, earlier) if earlier else None
