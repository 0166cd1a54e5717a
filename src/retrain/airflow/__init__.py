"""Airflow glue: task callables, callbacks, assets and shared DAG defaults.

The only package of retrain that imports Airflow. Modules here stay light at import time (Airflow
parses DAG files every few seconds): the core library, pandas, scikit-learn and MLflow are imported
inside the task functions.

Known-harmless warnings (`retrain.quiet`) are silenced in every process that runs this project's tasks,
unless the user asked for warnings (`python -W`, `PYTHONWARNINGS`, `retrain run --verbose`): by the
`on_execute_callback` every DAG shares (`defaults.quiet_task`: a worker's task process, plain
`airflow dags test`), and here, at this package's import, for an isolated task's interpreter or
container, which imports its callable from this package.
"""

from retrain.quiet import silence_unless_asked

silence_unless_asked()
