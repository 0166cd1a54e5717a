"""The production topology, for real: Airflow's CeleryExecutor on PostgreSQL and Redis with two workers,
and an MLflow tracking server on a PostgreSQL backend store, driven through Airflow's REST API (v2).

generate_data for a week → retrain (the first champion) → batch_predict (mapped over both workers);
then the champion is read back through the MLflow server: its artifacts are `mlflow-artifacts:` URIs
stored by the server alone, and a process sharing no folder with it loads the champion over HTTP.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from retrain.ops.environment import clean_environ
from tests.services.airflow_api import AirflowApi
from tests.services.conftest import dump_logs
from tests.services.topology import LocalTopology

pytestmark = pytest.mark.services

DAYS = [(date(2025, 12, 1) + timedelta(days=i)).isoformat() for i in range(7)]
MODEL = "retrain-model"


@pytest.fixture(scope="module")
def api(topology: LocalTopology):  # type: ignore[no-untyped-def]
    client = AirflowApi(topology.airflow_url, topology.admin_user, topology.password)
    yield client
    client.close()


def _check(states: dict[str, str], topology: LocalTopology) -> None:
    assert set(states.values()) == {"success"}, f"{states}\n{dump_logs(topology)}"


LOAD_CHAMPION = """
import json, sys
import pandas as pd
from retrain.registry import Registry
from retrain.settings import load_settings

model = Registry.from_settings(load_settings()).load_model("models:/{model}@champion")
print(json.dumps([int(p) for p in model.predict(pd.read_csv(sys.argv[1]))]))
"""


def load_champion_elsewhere(topology: LocalTopology, tmp_path: Path, ds: str) -> list[int]:
    """The champion's predictions for day `ds`, computed by a fresh process that knows only the server's URL."""
    host = tmp_path / "another-host"
    host.mkdir()
    features = host / "data.csv"
    shutil.copy(topology.retrain_home / "data" / "raw" / ds / "data.csv", features)
    env = {
        **clean_environ(),
        "HOME": str(host),
        "RETRAIN_HOME": str(host / "home"),
        "MLFLOW_TRACKING_URI": topology.mlflow_url,
    }
    assert not any(str(topology.mlflow_artifacts) in value for value in env.values())
    done = subprocess.run(
        [sys.executable, "-c", LOAD_CHAMPION.format(model=MODEL), str(features)],
        env=env,
        cwd=host,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (host / "home" / "mlartifacts").exists() or not list((host / "home" / "mlartifacts").rglob("*.skops"))
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_pipeline_runs_on_celery_workers_and_serves_the_champion_from_mlflow(
    topology: LocalTopology, api: AirflowApi, tmp_path: Path
) -> None:
    started = time.monotonic()
    # given: the project's DAGs parsed by the dag-processor, unpaused through the API
    api.wait_for_dags({"generate_data", "retrain", "batch_predict"}, timeout=90)
    for dag_id in ("generate_data", "retrain", "batch_predict"):
        api.unpause(dag_id)

    # when: a week of data lands, one run per day
    generate_runs = [api.trigger("generate_data", ds) for ds in DAYS]
    _check(api.wait_for_runs("generate_data", generate_runs, timeout=150), topology)

    # and: the retrain of the last day runs
    retrain_run = api.trigger("retrain", DAYS[-1], {"trigger": "manual"})
    _check(api.wait_for_runs("retrain", [retrain_run], timeout=240), topology)
    retrain_states = {ti["task_id"]: ti["state"] for ti in api.task_instances("retrain", retrain_run)}
    assert retrain_states["deploy_model"] == "success", retrain_states
    assert retrain_states["skip_deploy"] == "skipped", retrain_states

    # and: the champion scores the last day, one mapped task per batch of 50 rows
    predict_run = api.trigger("batch_predict", DAYS[-1])
    _check(api.wait_for_runs("batch_predict", [predict_run], timeout=180), topology)

    # then: every task ran on a Celery worker (EmptyOperators never leave the scheduler), and the mapped
    # batches ran on both of them
    workers = {topology.worker_name(i) for i in range(topology.workers)}
    instances = [
        ti
        for dag_id, run_ids in (
            ("generate_data", generate_runs),
            ("retrain", [retrain_run]),
            ("batch_predict", [predict_run]),
        )
        for run_id in run_ids
        for ti in api.task_instances(dag_id, run_id)
        if ti["state"] == "success" and ti["operator"] != "EmptyOperator"
    ]
    assert {ti["hostname"] for ti in instances} <= workers, {ti["hostname"] for ti in instances}
    batches = [ti for ti in instances if ti["task_id"] == "predict_batch"]
    assert len(batches) == 8, [ti["map_index"] for ti in batches]
    assert {ti["hostname"] for ti in batches} == workers, [(ti["map_index"], ti["hostname"]) for ti in batches]

    # and: the champion is served by the MLflow server (its registry lives in PostgreSQL, not a local file)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=topology.mlflow_url, registry_uri=topology.mlflow_url)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.version == "1"
    assert champion.tags["ds"] == DAYS[-1]
    assert not (topology.retrain_home / "mlflow.db").exists(), "a task fell back to the local SQLite store"
    # and: its artifacts went through the server (`--serve-artifacts`), into the server's own folder only
    run = client.get_run(champion.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
    model_uri = client.get_model_version_download_uri(MODEL, champion.version)
    assert model_uri.startswith("mlflow-artifacts:/"), model_uri
    assert list(topology.mlflow_artifacts.rglob("model.skops")), "the server stored no model"
    strays = [p for p in topology.root.rglob("model.skops") if topology.mlflow_artifacts not in p.parents]
    assert strays == [], "a worker wrote a model outside the server's artifact store"
    # and: a process that shares no folder with the server (its own cwd, HOME and RETRAIN_HOME, as a
    # worker on another host) loads the champion over HTTP, verified, and scores like the workers did
    scores = load_champion_elsewhere(topology, tmp_path, DAYS[-1])

    # and: the day's predictions are that model's, row for row
    import pandas as pd

    data_dir = topology.retrain_home / "data"
    features = pd.read_csv(data_dir / "raw" / DAYS[-1] / "data.csv")
    with open(data_dir / "predictions" / DAYS[-1] / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in rows] == list(range(len(features)))
    assert {r["model_version"] for r in rows} == {"1"}
    assert [int(r["prediction"]) for r in rows] == scores
    print(f"services pipeline: {time.monotonic() - started:.0f}s after the topology started")
