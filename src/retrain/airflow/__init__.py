"""Airflow glue: task callables, callbacks, assets and shared DAG defaults.

The only package of retrain that imports Airflow. Modules here stay light at import time (Airflow
parses DAG files every few seconds): the core library, pandas, scikit-learn and MLflow are imported
inside the task functions.
"""
