"""deploy/: the compose file declares the production topology (services, healthchecks, volumes), holds no
password, scales its workers, and runs exactly the commands of `retrain.ops.services`; the image is built on
the Airflow version of the lock; the placeholder check refuses an unfilled .env."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain.ops import services

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"

AIRFLOW_COMPONENTS = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
LONG_RUNNING = ("postgres", "redis", *AIRFLOW_COMPONENTS, "mlflow")
ONE_SHOT = ("check-env", "airflow-init")
VOLUMES = ("postgres-data", "retrain-data", "mlartifacts", "airflow-logs", "airflow-auth")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$", re.IGNORECASE)
REQUIRED_REF = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def svc(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_service_is_declared_with_a_healthcheck(svc) -> None:  # type: ignore[no-untyped-def]
    assert set(LONG_RUNNING + ONE_SHOT) <= set(svc)
    for name in LONG_RUNNING:
        test = svc[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    for name in ONE_SHOT:  # jobs, not servers: the others wait for their exit code instead
        assert svc[name]["restart"] == "no"


def test_airflow_components_share_the_common_anchor_and_wait_for_init(compose, svc) -> None:  # type: ignore[no-untyped-def]
    assert "x-airflow-common: &airflow-common" in COMPOSE_FILE.read_text()
    common = compose["x-airflow-common"]
    for name in AIRFLOW_COMPONENTS:
        assert svc[name]["image"] == common["image"]
        assert svc[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert svc[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    for name in ("postgres", "redis", "airflow-init"):
        assert svc[name]["depends_on"]["check-env"] == {"condition": "service_completed_successfully"}
    assert svc["airflow-init"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_commands_are_those_of_retrain_services(svc) -> None:  # type: ignore[no-untyped-def]
    expected = services.compose_commands()
    for name, command in expected.items():
        assert svc[name]["command"] == command, name
    assert services.AIRFLOW_DB_MIGRATE == ["airflow", "db", "migrate"]
    assert "\nairflow db migrate\n" in (DEPLOY / "airflow-init.sh").read_text()
    assert svc["airflow-init"]["entrypoint"] == ["/bin/bash", "/opt/retrain/deploy/airflow-init.sh"]
    # the settings the local topology gives every component are set here too, and agree
    local = services.airflow_env(
        sql_alchemy_conn="x",
        broker_url="x",
        result_backend="x",
        api_url="http://h:1",
        jwt_secret="x",
        api_secret_key="x",
        fernet_key="x",
        admin_user="x",
        passwords_file="x",
        dags_folder="x",
    )
    common = svc["airflow-scheduler"]["environment"]
    assert set(local) <= set(common)
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
    ):
        assert common[key] == local[key], key
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert common["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    for key, value in services.MLFLOW_SERVER_ENV.items():
        assert svc["mlflow"]["environment"][key] == value
    assert services.MLFLOW_BACKEND_STORE_ENV in svc["mlflow"]["environment"]


def test_no_password_is_written_in_the_compose_file(svc, compose) -> None:  # type: ignore[no-untyped-def]
    # every secret-looking setting is a required reference to .env (compose refuses to start without it)
    for name, service in {**svc, "x-airflow-common": compose["x-airflow-common"]}.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and key != "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE":
                assert REQUIRED_REF.match(str(value)), f"{name}: {key}={value!r} is not a ${{VAR:?}} from .env"
    # credentials inside URLs too
    for text in _strings(compose):
        for user, password in re.findall(r"://([^:/@\s]+):([^@\s]+)@", text):
            assert REQUIRED_REF.match(password), f"literal password in {text!r}"
            assert REQUIRED_REF.match(user), f"literal user in {text!r}"
    assert not re.search(
        r"(?i)(airflow|admin|postgres|mlflow):(airflow|admin|postgres|mlflow|password)@", COMPOSE_FILE.read_text()
    )


def test_env_example_holds_placeholders_for_every_secret(compose) -> None:  # type: ignore[no-untyped-def]
    example = _env_file(DEPLOY / ".env.example")
    # interpolated variables (not `$${X}`, which the container's shell expands), comments aside
    referenced = {v for text in _strings(compose) for v in re.findall(r"(?<!\$)\$\{([A-Z_]+)", text)}
    referenced -= {"RETRAIN_IMAGE"}  # has a default: the image's name
    assert referenced <= set(example), f"not in .env.example: {referenced - set(example)}"
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "change-me", f"{key} must be a placeholder in .env.example"
    assert not (DEPLOY / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()


def test_workers_scale_out(svc) -> None:  # type: ignore[no-untyped-def]
    worker = svc["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "--celery-hostname" in worker["command"] and "celery@%h" in worker["command"]
    assert not [name for name, s in svc.items() if "container_name" in s]


def test_volumes_are_named_and_mounted(compose, svc) -> None:  # type: ignore[no-untyped-def]
    assert set(VOLUMES) <= set(compose["volumes"])
    mounts = {name: {v.split(":")[0] for v in s.get("volumes", [])} for name, s in svc.items()}
    assert "postgres-data" in mounts["postgres"]
    for name in AIRFLOW_COMPONENTS:
        assert {"retrain-data", "airflow-logs"} <= mounts[name], name
        # the models go through the MLflow server (issue 13 item 15): no shared artifact volume
        assert "mlartifacts" not in mounts[name], f"{name} must reach the models through the MLflow server only"
    assert "airflow-auth" in mounts["airflow-apiserver"] and "airflow-auth" in mounts["airflow-init"]
    assert [name for name, m in mounts.items() if "mlartifacts" in m] == ["mlflow"]
    # the server alone stores them, outside RETRAIN_HOME, and serves them (`mlflow-artifacts:` URIs)
    destination = services.COMPOSE_VALUES["artifacts_destination"]
    assert "mlartifacts:" + destination in svc["mlflow"]["volumes"]
    assert not destination.startswith(svc["airflow-worker"]["environment"]["RETRAIN_HOME"])
    assert "--serve-artifacts" in svc["mlflow"]["command"]
    for volume in VOLUMES:
        assert volume in COMPOSE_FILE.read_text().split("services:")[0], f"{volume} is not documented"


def test_postgres_creates_separate_airflow_and_mlflow_databases(svc) -> None:  # type: ignore[no-untyped-def]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in svc["postgres"]["volumes"]
    sql = (DEPLOY / "postgres-init" / "01-databases.sql").read_text()
    assert "CREATE DATABASE airflow;" in sql and "CREATE DATABASE mlflow;" in sql
    airflow_db = svc["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow_db.endswith("@postgres:5432/airflow")
    assert svc["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")


def test_the_image_is_the_airflow_of_the_lock_with_the_locked_dependencies() -> None:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{airflow}-python3.11" in dockerfile
    assert "uv export --frozen --no-dev" in dockerfile
    assert "COPY --chown=airflow:0 dags /opt/airflow/dags" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE_FILE.read_text()


def _check_env(**values: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **values}
    return subprocess.run(["bash", str(DEPLOY / "check-env.sh")], env=env, capture_output=True, text=True, check=False)


FILLED = {
    "POSTGRES_USER": "retrain",
    "POSTGRES_PASSWORD": "Zq3-vN8_xK1.pL5~wR7m",
    "AIRFLOW_ADMIN_USER": "admin",
    "AIRFLOW_ADMIN_PASSWORD": "a-long-admin-password-1",
    "AIRFLOW_JWT_SECRET": "jwt-secret-0123456789abcdef",
    "AIRFLOW_API_SECRET_KEY": "api-secret-0123456789abcdef",
    "AIRFLOW_FERNET_KEY": "lTRJRTaxGqbDcC9hzUbEXXDIUBgZrqL4Xof8Aq3gmAE=",
}


def test_the_example_env_is_refused_until_every_placeholder_is_replaced() -> None:
    example = _check_env(**_env_file(DEPLOY / ".env.example"))
    assert example.returncode == 1
    for name in ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY"):
        assert f"{name} is still a placeholder" in example.stderr
    assert _check_env(**FILLED).returncode == 0
    weak = _check_env(**{**FILLED, "AIRFLOW_ADMIN_PASSWORD": "admin"})
    assert weak.returncode == 1 and "shorter than 16" in weak.stderr
    missing = _check_env(**{k: v for k, v in FILLED.items() if k != "AIRFLOW_JWT_SECRET"})
    assert missing.returncode == 1 and "AIRFLOW_JWT_SECRET is not set" in missing.stderr
    other = _check_env(**FILLED, TG_TOKEN="change-me")
    assert other.returncode == 1 and "TG_TOKEN is still a placeholder" in other.stderr
    url = _check_env(**{**FILLED, "POSTGRES_PASSWORD": "has@and/in-the-url"})
    assert url.returncode == 1 and "goes into URLs" in url.stderr


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode:
        pytest.skip("no `docker compose` CLI plugin here: the compose file is checked by parsing only")
    deploy = shutil.copytree(DEPLOY, tmp_path / "deploy")
    (deploy / ".env").write_text("".join(f"{k}={v}\n" for k, v in FILLED.items()))
    done = subprocess.run(
        [docker, "compose", "config", "--quiet"], capture_output=True, text=True, check=False, cwd=deploy
    )
    assert done.returncode == 0, done.stderr
