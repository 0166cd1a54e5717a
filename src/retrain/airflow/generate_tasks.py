"""Task callables of the `generate_data` DAG: land one day under raw/{ds}/, and say what landed.

`generate` runs the landing job (`retrain.jobs.land`): a bad user's day fails the task at once (no
retries: a retry cannot fix the file), with raw/ as it was and a copy in quarantine/{ds}/; a day that
has not arrived yet is retried. On success it emits one `FEATURES` event for the day and one `LABELS`
event per day whose labels landed (partition key: that day), which start the downstream DAGs.
"""

from __future__ import annotations

from typing import Any

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout


def generate(ds: str, outlet_events: Any = None) -> dict:
    """Write raw/{ds}/data.csv (and the labels that arrived): the user's own day when RETRAIN_SOURCE is set.

    `airflow://CONN_ID` and object-storage sources are opened here (`retrain.airflow.sources`), the
    others by the job itself.
    """
    from retrain.airflow.assets import FEATURES, LABELS
    from retrain.airflow.sources import source_for
    from retrain.jobs.land import LandDay

    settings, layout = settings_and_layout()
    with fail_fast_on_bad_input():
        landed = LandDay(settings, layout, source_for(settings)).run(ds)
    if outlet_events is not None:
        outlet_events[FEATURES].add_partitions(ds)
        outlet_events[FEATURES].extra = {"ds": ds}
        if landed.labelled:
            outlet_events[LABELS].add_partitions(landed.labelled)
            outlet_events[LABELS].extra = {"landed_on": ds}
    return landed.to_dict()
