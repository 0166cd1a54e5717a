"""Task isolation: in-process, another interpreter (Airflow's external-python task, run for real), and a
container (a TaskFlow task over Airflow's DockerOperator: the operator it builds, and its command run by
a local process standing in for the container, since no Docker engine runs here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The isolated interpreter imports this module by name, as pytest imported it.
IMPORTABLE = os.pathsep.join([str(Path(__file__).resolve().parent), str(REPO)])
DS = "2025-12-07"


def record_interpreter(out: str, ds: str) -> dict:
    """The isolated task of these tests: says which interpreter ran it, for which logical date."""
    import sys

    info = {"executable": sys.executable, "prefix": sys.prefix, "ds": ds}
    Path(out).write_text(json.dumps(info), encoding="utf-8")
    return info


@pytest.fixture
def task_venv(tmp_path: Path) -> Path:
    """A separate interpreter: a new venv that sees this environment's packages (its own dependency set
    would be installed there in real use). Returns its python."""
    venv = tmp_path / "task-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    # addsitedir also runs this environment's .pth files (the editable install of retrain).
    (site / "parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [python, "-c", "import sys, retrain, airflow.sdk; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == str(venv)
    return python


def _dag(dag_id: str, build) -> object:  # type: ignore[no-untyped-def]
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), catchup=False) as dag:
        build()
    return dag


def _register(dag) -> None:  # type: ignore[no-untyped-def]
    """Write a DAG built in this test to the metadata database, as the dag-processor would (dag.test needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def test_inprocess_is_a_plain_taskflow_task(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from retrain.airflow.isolation import isolated

    monkeypatch.setenv("RETRAIN_ISOLATION_SCORE", "inprocess")
    dag = _dag("iso_inprocess", lambda: isolated("score", record_interpreter, task_id="probe")("/x"))
    op = dag.get_task("probe")
    assert type(op).__name__ == "_PythonDecoratedOperator"
    assert op.python_callable is record_interpreter


def run_virtualenv_dag(out: str) -> str:
    """Build, register and run the probe DAG; called in a fresh process with its own AIRFLOW_HOME.

    Registering a hand-built DAG in the session's shared metadata database would confuse the bundle
    sync of every later `dag.test()` of the project's DAGs, so this runs in a process of its own.
    """
    from retrain.airflow.isolation import isolated
    from retrain.airflow.runner import ensure_database

    ensure_database(Path(os.environ["AIRFLOW_HOME"]))
    dag = _dag("iso_virtualenv", lambda: isolated("train", record_interpreter, task_id="probe")(out))
    assert type(dag.get_task("probe")).__name__ == "_PythonExternalDecoratedOperator"
    _register(dag)
    run = dag.test(logical_date=datetime.fromisoformat(f"{DS}T00:00:00+00:00"))
    return str(getattr(run.state, "value", run.state))


def test_virtualenv_runs_the_task_in_the_other_interpreter(settings, task_venv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # given: training isolated in another interpreter, which can import this test module
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "RETRAIN_ISOLATION_TRAIN": "virtualenv",
        "RETRAIN_TASK_PYTHON": str(task_venv),
        "PYTHONPATH": IMPORTABLE,
    }
    out = tmp_path / "interpreter.json"
    code = f"import test_isolation as t; print('STATE', t.run_virtualenv_dag({str(out)!r}))"

    # when: the DAG runs (in a process of its own: see run_virtualenv_dag)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)

    # then: the task ran in the venv's interpreter, not this one, and got its context value
    assert "STATE success" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    info = json.loads(out.read_text())
    assert info["executable"] == str(task_venv)
    assert info["prefix"] == str(task_venv.parent.parent) != sys.prefix
    assert info["ds"] == DS


def test_virtualenv_without_a_task_python_uses_a_venv_per_kind(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RETRAIN_ISOLATION_TRAIN", "virtualenv")
    monkeypatch.setenv("RETRAIN_ISOLATION_SCORE", "virtualenv")
    from retrain.airflow.isolation import isolated
    from retrain.settings import load_settings

    def build() -> None:
        isolated("train", record_interpreter, task_id="train")("/x")
        isolated("score", record_interpreter, task_id="score").expand(out=["/a", "/b"])

    dag = _dag("iso_kinds", build)
    home = load_settings().home
    assert dag.get_task("train").python == str(home / "venvs" / "train" / "bin" / "python")
    assert dag.get_task("score").partial_kwargs["python"] == str(home / "venvs" / "score" / "bin" / "python")


def test_a_callable_defined_in_a_dag_file_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    from retrain.airflow.isolation import import_path

    def local() -> None: ...

    with pytest.raises(ValueError, match="module-level function"):
        import_path(local)
    assert import_path(record_interpreter) == f"{record_interpreter.__module__}:record_interpreter"


@pytest.fixture
def docker_task(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RETRAIN_ISOLATION_SCORE", "docker")
    monkeypatch.setenv("RETRAIN_TASK_IMAGE", "registry.example/retrain:1.2")
    monkeypatch.setenv("TG_TOKEN", "123:SECRET-never-in-plain-env")
    monkeypatch.setenv("TG_CHAT", "42")
    from retrain.airflow.isolation import isolated

    dag = _dag("iso_docker", lambda: isolated("score", record_interpreter, task_id="probe")("/data/out.json"))
    return dag.get_task("probe")


def test_docker_builds_the_container_task(docker_task, settings) -> None:  # type: ignore[no-untyped-def]
    from airflow.providers.docker.operators.docker import DockerOperator

    op = docker_task
    assert isinstance(op, DockerOperator)
    assert op.image == "registry.example/retrain:1.2"
    assert op.command == ["python", "-m", "retrain.airflow.isolation_container"]
    assert op.retrieve_output is True
    # RETRAIN_HOME is mounted at the same path: every path in settings and XComs holds in the container
    assert [(m["Source"], m["Target"], m["Type"]) for m in op.mounts] == [(str(settings.home),) * 2 + ("bind",)]
    assert op.environment["RETRAIN_HOME"] == str(settings.home)
    assert op.environment["RETRAIN_ROWS_PER_DAY"] == "400"
    assert op.environment["TG_CHAT"] == "42"
    assert op.environment["ISOLATED_TASK_CALLABLE"] == f"{record_interpreter.__module__}:record_interpreter"
    assert "{{ ds | tojson }}" in op.environment["ISOLATED_TASK_CONTEXT"]  # rendered by Airflow at run time
    # secrets only in the private environment: not a template field, never rendered in the UI nor logged
    # (DockerOperator keeps it in a private attribute)
    assert "TG_TOKEN" not in op.environment
    assert op._private_environment == {"TG_TOKEN": "123:SECRET-never-in-plain-env"}
    assert not any("SECRET" in str(v) for v in op.environment.values())
    assert "environment" in op.template_fields and "private_environment" not in op.template_fields
    assert op.mount_tmp_dir is False
    assert op.auto_remove == "success"


def test_docker_command_runs_the_callable_inside(docker_task, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: the operator's execute, up to the point where it would ask the Docker engine to run
    from airflow.sdk.bases.decorator import DecoratedOperator

    op = docker_task
    op.op_args = [str(tmp_path / "out.json")]
    monkeypatch.setattr(DecoratedOperator, "execute", lambda self, context: None)
    op.execute({})
    env = {**op.environment, **op._private_environment}
    assert json.loads(env["ISOLATED_TASK_INPUT"]) == {"args": [str(tmp_path / "out.json")], "kwargs": {}}
    assert env["ISOLATED_TASK_RESULT"] == op.retrieve_output_path

    # when: a local process stands in for the container (Airflow would have rendered the context template)
    env.update(
        ISOLATED_TASK_CONTEXT=json.dumps({"ds": DS, "run_id": "manual__x"}),
        ISOLATED_TASK_RESULT=str(tmp_path / "result.json"),
        PATH=os.environ["PATH"],
        PYTHONPATH=IMPORTABLE,
    )
    done = subprocess.run([sys.executable, *op.command[1:]], env=env, capture_output=True, text=True, check=False)

    # then: the callable ran with its argument and the logical date, and its result is where Docker reads it
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.json").read_text())["ds"] == DS
    assert json.loads((tmp_path / "result.json").read_text())["ds"] == DS


def test_unknown_kind_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    from retrain.airflow.isolation import isolated

    with pytest.raises(ValueError, match="'train' or 'score'"):
        isolated("predict", record_interpreter, task_id="x")  # type: ignore[arg-type]


def test_isolated_dags_serialize_and_map(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: training in a venv and scoring in a container, the scoring mapped over batches
    monkeypatch.setenv("RETRAIN_ISOLATION_TRAIN", "virtualenv")
    monkeypatch.setenv("RETRAIN_ISOLATION_SCORE", "docker")
    from airflow.serialization.serialized_objects import DagSerialization

    from retrain.airflow.isolation import isolated

    def build() -> None:
        isolated("train", record_interpreter, task_id="train")("/x")
        isolated("score", record_interpreter, task_id="score").expand(out=["/a", "/b"])

    # when: the dag-processor would serialize it
    dag = _dag("iso_both", build)
    data = DagSerialization.serialize_dag(dag)

    # then: both tasks are there, the container one mapped over its argument
    tasks = {t["__var"]["task_id"]: t["__var"] for t in data["tasks"]}
    assert set(tasks) == {"train", "score"}
    assert tasks["score"].get("_is_mapped") is True
