"""
### generate_data

Lands one day of data under `raw/{ds}/` (`data.csv` features, `target.csv` labels) and marks the
raw-data asset updated.

* `RETRAIN_SOURCE` unset: a seeded synthetic stream with drift from `RETRAIN_DRIFT_START` on.
* `RETRAIN_SOURCE=/path/to/days`: the user's own `{ds}/data.csv` and `{ds}/target.csv`, validated
  before anything is written.

Writes are atomic and re-running a day writes identical files.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from retrain.airflow import defaults, generate_tasks
from retrain.airflow.assets import RAW_DATA


@dag(dag_id="generate_data", schedule="@daily", doc_md=__doc__, **defaults.dag_kwargs(tags=["data"]))
def generate_data() -> None:
    task(task_id="generate", outlets=[RAW_DATA])(generate_tasks.generate)()


generate_data()
