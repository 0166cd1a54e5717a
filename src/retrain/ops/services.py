"""The production topology's service commands and settings: one source of truth.

`deploy/docker-compose.yml`, `retrain up` (`retrain.ops.up`) and the local production topology
(`tests/services/topology.py`, run by `make test-services`) all start the same programs with the same
arguments; `tests/unit/ops/test_compose.py` checks the compose file against this module.

Placeholders in braces are filled by `command()`. Secrets never appear in a command line (a process
list shows it to every user of the machine): they travel in the environment, e.g. the MLflow backend
store URI in `MLFLOW_BACKEND_STORE_URI`, which `mlflow server` reads like `--backend-store-uri`.
"""

from __future__ import annotations

from collections.abc import Mapping

AIRFLOW_DB_MIGRATE: list[str] = ["airflow", "db", "migrate"]
"""Creates or upgrades Airflow's metadata database; run once before the services start (airflow-init)."""

AIRFLOW_SERVICES: dict[str, list[str]] = {
    "api-server": ["airflow", "api-server", "--host", "{host}", "--port", "{airflow_port}"],
    "scheduler": ["airflow", "scheduler"],
    "dag-processor": ["airflow", "dag-processor"],
    "triggerer": ["airflow", "triggerer"],
    "worker": [
        "airflow",
        "celery",
        "worker",
        "--concurrency",
        "{worker_concurrency}",
        "--celery-hostname",
        "{celery_hostname}",
    ],
}

MLFLOW_SERVER: list[str] = [
    "mlflow",
    "server",
    "--host",
    "{host}",
    "--port",
    "{mlflow_port}",
    "--workers",
    "{mlflow_workers}",
    "--serve-artifacts",
    "--artifacts-destination",
    "{artifacts_destination}",
]
"""The MLflow tracking server; its backend store comes from MLFLOW_BACKEND_STORE_URI (it may hold a password).

`--serve-artifacts` (MLflow's default, spelled out because the topology depends on it): new experiments
get `mlflow-artifacts:/` locations, and clients upload and download the models over HTTP through the
server, which alone reads and writes `--artifacts-destination`. A worker on another host therefore
needs nothing but the server's URL to load the champion (no shared `file://` volume)."""

MLFLOW_BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"

MLFLOW_SERVER_ENV: dict[str, str] = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""The MLflow server's job runner (GenAI jobs: trace archival, scorers) forks eight processes that a
model registry does not use; it stays off."""

COMPOSE_SERVICES: dict[str, str] = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "worker",
}
"""Compose service name -> key of `AIRFLOW_SERVICES` it runs."""

COMPOSE_VALUES: dict[str, str] = {
    "host": "0.0.0.0",  # noqa: S104  (inside a container: reachable from the other containers)
    "airflow_port": "8080",
    "mlflow_port": "5000",
    "mlflow_workers": "2",
    "worker_concurrency": "4",
    # Celery expands %h to the container's host name: every replica of `--scale airflow-worker=N`
    # gets its own node name, which the worker's healthcheck pings.
    "celery_hostname": "celery@%h",
    "artifacts_destination": "/opt/mlflow/artifacts",  # the `mlartifacts` volume, mounted by the server only
}
"""The values the compose file fills the templates with."""

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def command(template: list[str], **values: object) -> list[str]:
    """Fill the placeholders of a command template; a missing value is an error, never an empty flag."""
    return [part.format(**values) for part in template]


def compose_commands() -> dict[str, list[str]]:
    """The command of every long-running compose service, as the compose file must spell it."""
    commands = {name: command(AIRFLOW_SERVICES[key], **COMPOSE_VALUES) for name, key in COMPOSE_SERVICES.items()}
    commands["mlflow"] = command(MLFLOW_SERVER, **COMPOSE_VALUES)
    return commands


def airflow_env(
    *,
    sql_alchemy_conn: str,
    broker_url: str,
    result_backend: str,
    api_url: str,
    jwt_secret: str,
    api_secret_key: str,
    fernet_key: str,
    admin_user: str,
    passwords_file: str,
    dags_folder: str,
) -> dict[str, str]:
    """The Airflow settings every component of the CeleryExecutor topology shares (scheduler, api-server,
    dag-processor, triggerer and workers must agree on all of them).

    Args:
        sql_alchemy_conn: The metadata database (PostgreSQL in production).
        broker_url: Celery's broker (Redis).
        result_backend: Celery's result backend (`db+postgresql://...`).
        api_url: Where the api-server is reached; tasks call its execution API under `/execution/`.
        jwt_secret: Signs the tokens of the UI, the REST API and the tasks: the same in every component.
        api_secret_key: The api-server's session secret.
        fernet_key: Encrypts connections and variables in the metadata database.
        admin_user: The simple auth manager's admin user (its password is in `passwords_file`).
        passwords_file: JSON `{"user": "password"}` of the simple auth manager.
        dags_folder: This project's `dags/`.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{admin_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": passwords_file,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url.rstrip('/')}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__API__SECRET_KEY": api_secret_key,
    }


SECRET_ENV_KEYS: frozenset[str] = frozenset(
    {
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        MLFLOW_BACKEND_STORE_ENV,
    }
)
"""Settings that hold or embed a secret: in the compose file they must come from `.env`."""


def passwords_json(passwords: Mapping[str, str]) -> str:
    """The simple auth manager's passwords file content."""
    import json

    return json.dumps(dict(passwords)) + "\n"
