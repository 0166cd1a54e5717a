"""Operations: starting and stopping processes, for `retrain up`, compose and `retrain run`.

- `services`: the service commands and settings shared by `deploy/docker-compose.yml`, `retrain up`
  and the local topology of the services tests (`tests/services/topology.py`).
- `supervisor`: process groups started, watched and stopped together; readiness probes.
- `up`: `retrain up`, the Airflow and MLflow UIs in the foreground.
- `home`: AIRFLOW_HOME's airflow.cfg, and a RETRAIN_HOME that was moved or copied made whole.
- `environment`: which environment variables are retrain's, MLflow's and Airflow's.
- `signals`: SIGTERM/SIGINT stop a run promptly, whatever handler the code inside installs.

Nothing here imports Airflow: it prepares the environment Airflow reads when it is first imported.
"""
