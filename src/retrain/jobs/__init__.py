"""The use cases, importable and testable without Airflow: each job reads top to bottom like the story.

`land`, `retrain`, `promote`, `predict` (batch scoring of a day) and `monitor` (drift of a day). Jobs
take typed inputs and return typed outputs (frozen dataclasses; `to_dict()` for XCom); the Airflow
tasks in `retrain.airflow` are a few lines each around them. Nothing here imports Airflow.
"""
