"""Assets the DAGs produce and consume: data-aware scheduling, and the lineage the Airflow UI shows.

`FEATURES` and `LABELS` are partitioned by day: each event `generate_data` emits carries the day as
its partition key (`YYYY-MM-DD`), and a DAG scheduled on `PartitionedAssetTimetable` gets one run per
day landed, with that day as the run's `partition_key` (the tasks read it through `RUN_DAY`).
"""

from __future__ import annotations

from airflow.sdk import Asset

FEATURES = Asset(name="retrain_features", uri="file:///retrain/raw/features")
"""One event per day whose features landed under raw/{ds}/data.csv (partition key: the day).
Starts `batch_predict` and `monitor_drift` for that day."""

LABELS = Asset(name="retrain_labels", uri="file:///retrain/raw/labels")
"""One event per day whose labels landed under raw/{ds}/target.csv, the same day or later (partition
key: the labelled day, not the landing day). Starts `monitor_performance` for that day."""

PREDICTIONS = Asset(name="retrain_predictions", uri="file:///retrain/predictions")
"""Updated each time `batch_predict` writes predictions/{ds}/predictions.csv."""

RUN_DAY = "{{ dag_run.partition_key or ds }}"
"""The day a run is about, as a template: the partition key of an asset-triggered run, else the
logical date (`retrain run DAG --date D`, a scheduled or a triggered run)."""
