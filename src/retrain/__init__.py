"""retrain."""

import os

# MLflow reports usage to mlflow-telemetry.io from every process that imports it unless told not to
# (`mlflow.telemetry`, decided once, when MLflow is imported). A retraining system makes no network
# call its user did not configure; this package is imported before MLflow in every process that runs
# its code (the CLI, Airflow's workers). Opt in with MLFLOW_DISABLE_TELEMETRY=false.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
