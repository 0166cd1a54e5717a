"""
### generate_data

Lands one day of data under `raw/{ds}/` (`data.csv` features, `target.csv` labels) and marks the
raw-data asset updated.

* `RETRAIN_SOURCE` unset: a seeded synthetic stream with drift from `RETRAIN_DRIFT_START` on.
* `RETRAIN_SOURCE`: the user's own days, validated before anything is written: a folder
  (`{ds}/data.csv` or `.parquet`, `{ds}/target.csv` or `.parquet`), a database (a SQLAlchemy URL or
  `airflow://CONN_ID` with `RETRAIN_SOURCE_QUERY` on `:ds`), or object storage (`s3://`, `file://`).
  A day whose labels have not arrived lands its features only.

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
