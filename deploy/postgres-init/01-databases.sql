-- Run once by the postgres image, on an empty data volume: one database for Airflow's metadata and
-- one for MLflow's backend store (tracking and model registry), both owned by POSTGRES_USER.
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
