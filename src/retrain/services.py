"""The production topology's service commands: one source of truth.

`deploy/docker-compose.yml`, `retrain up` and the local services test (`make test-services`) all
start the same programs with the same arguments; a test checks the compose file against this table.
Placeholders in braces are filled by `command()`.
"""

from __future__ import annotations

AIRFLOW_SERVICES: dict[str, list[str]] = {
    "api-server": ["airflow", "api-server", "--host", "{host}", "--port", "{airflow_port}"],
    "scheduler": ["airflow", "scheduler"],
    "dag-processor": ["airflow", "dag-processor"],
    "triggerer": ["airflow", "triggerer"],
    "worker": ["airflow", "celery", "worker", "--concurrency", "{worker_concurrency}"],
}

MLFLOW_SERVER: list[str] = [
    "mlflow", "server",
    "--host", "{host}",
    "--port", "{mlflow_port}",
    "--backend-store-uri", "{backend_store_uri}",
    "--artifacts-destination", "{artifacts_destination}",
]


def command(template: list[str], **values: object) -> list[str]:
    """Fill the placeholders of a command template; a missing value is an error, never an empty flag."""
    return [part.format(**values) for part in template]
