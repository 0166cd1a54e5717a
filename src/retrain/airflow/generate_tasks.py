"""Task callables of the `generate_data` DAG: land one day under raw/{ds}/."""

from __future__ import annotations

import logging

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout

log = logging.getLogger(__name__)


def generate(ds: str) -> dict:
    """Write raw/{ds}/data.csv and target.csv: the user's own day when RETRAIN_SOURCE is set, else synthetic."""
    settings, layout = settings_and_layout()
    with fail_fast_on_bad_input():
        if settings.source is not None:
            from retrain.data.load import land_day

            data_path, target_path = land_day(settings.source, layout, ds)
            origin = "source"
        else:
            from retrain.data.generate import generate_and_write

            data_path, target_path = generate_and_write(settings, layout, ds)
            origin = "synthetic"
    log.info("landed %s day %s at %s", origin, ds, data_path.parent)
    return {"ds": ds, "origin": origin, "data": str(data_path), "target": str(target_path)}
