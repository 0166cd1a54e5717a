"""Task callables of the `generate_data` DAG: land one day under raw/{ds}/.

`generate` runs the landing job (`retrain.jobs.land`): a bad user's day fails the task at once (no
retries: a retry cannot fix the file), with raw/ as it was and a copy in quarantine/{ds}/; a day that
has not arrived yet is retried.
"""

from __future__ import annotations

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout


def generate(ds: str) -> dict:
    """Write raw/{ds}/data.csv and target.csv: the user's own day when RETRAIN_SOURCE is set, else synthetic.

    `airflow://CONN_ID` and object-storage sources are opened here (`retrain.airflow.sources`), the
    others by the job itself.
    """
    from retrain.airflow.sources import source_for
    from retrain.jobs.land import LandDay

    settings, layout = settings_and_layout()
    with fail_fast_on_bad_input():
        return LandDay(settings, layout, source_for(settings)).run(ds).to_dict()
