"""
### generate_data

Lands one day of features under `raw/{ds}/data.csv`, and the labels (`target.csv`) of every day
whose labels have arrived (that day's, or earlier days'), and emits the asset events that start
the other DAGs: `retrain_features` for the day (→ `batch_predict`, `monitor_drift`) and
`retrain_labels` for each labelled day (→ `monitor_performance`); the partition key is the day.

* `RETRAIN_SOURCE` unset: a seeded synthetic stream with drift from `RETRAIN_DRIFT_START` on; its
  labels land `RETRAIN_LABEL_DELAY_DAYS` days after the features (0: together).
* `RETRAIN_SOURCE`: the user's own days, validated before anything is written: a folder
  (`{ds}/data.csv` or `.parquet`, `{ds}/target.csv` or `.parquet`), a database (a SQLAlchemy URL or
  `airflow://CONN_ID` with `RETRAIN_SOURCE_QUERY` on `:ds`), or object storage (`s3://`, `file://`).
  A day whose labels have not arrived lands its features only; its labels land with a later day.

Writes are atomic and re-running a day writes identical files.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from retrain.airflow import defaults, generate_tasks
from retrain.airflow.assets import FEATURES, LABELS


@dag(dag_id="generate_data", schedule="@daily", doc_md=__doc__, **defaults.dag_kwargs(tags=["data"]))
def generate_data() -> None:
    task(task_id="generate", outlets=[FEATURES, LABELS])(generate_tasks.generate)()


generate_data()
