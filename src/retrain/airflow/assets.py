"""Assets the DAGs produce and consume, so runs show their data lineage in the Airflow UI."""

from __future__ import annotations

from airflow.sdk import Asset

RAW_DATA = Asset(name="retrain_raw_data", uri="file:///retrain/raw")
"""Updated each time `generate_data` lands a day under raw/{ds}/."""

PREDICTIONS = Asset(name="retrain_predictions", uri="file:///retrain/predictions")
"""Updated each time `batch_predict` writes predictions/{ds}/predictions.csv."""
