"""DAG integrity: every DAG file imports cleanly and light, with the ids, tasks and edges of the contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import DAGS_FOLDER

DAG_FILES = sorted(DAGS_FOLDER.glob("*.py"))

# The contract of DESIGN.md: task ids and the edges between them (downstream ids per task).
CONTRACT_EDGES: dict[str, dict[str, set[str]]] = {
    "generate_data": {"generate": set()},
    "retrain": {
        "wait_for_data": {"prepare_data"},
        "prepare_data": {"validate_data"},
        "validate_data": {"split_data"},
        "split_data": {"train_model"},
        "train_model": {"evaluate_model"},
        "evaluate_model": {"decide_deploy", "deploy_model", "skip_deploy"},  # the branch, and the evaluation as input
        "decide_deploy": {"deploy_model", "skip_deploy"},
        "deploy_model": {"notify_success"},
        "notify_success": {"end"},
        "skip_deploy": {"end"},
        "end": set(),
    },
    "batch_predict": {
        "wait_for_data": {"resolve_model"},
        "resolve_model": {"list_batches"},
        "list_batches": {"predict_batch"},
        "predict_batch": {"merge_predictions"},
        "merge_predictions": set(),
    },
    "monitor_drift": {
        "wait_for_data": {"detect_drift"},
        "detect_drift": {"decide_retrain", "alert_drift"},
        "decide_retrain": {"alert_drift", "no_drift"},
        "alert_drift": {"trigger_retrain"},
        "trigger_retrain": {"end"},
        "no_drift": {"end"},
        "end": set(),
    },
    "monitor_performance": {
        "wait_for_labels": {"measure_performance"},
        "measure_performance": {"decide_retrain", "alert_performance"},
        "decide_retrain": {"alert_performance", "no_retrain"},
        "alert_performance": {"trigger_retrain"},
        "trigger_retrain": {"end"},
        "no_retrain": {"end"},
        "end": set(),
    },
}
HEAVY = ("sklearn", "pandas", "pyarrow", "mlflow", "numpy", "scipy")


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path, retrain_env_module: None):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def retrain_env_module(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("RETRAIN_HOME", str(tmp_path_factory.mktemp("home")))
    mp.setenv("RETRAIN_TASK_RETRIES", "3")
    yield
    mp.undo()


def test_every_dag_file_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert len(DAG_FILES) >= 2


@pytest.mark.parametrize("dag_id", sorted(CONTRACT_EDGES))
def test_tasks_and_edges_match_the_contract(dagbag, dag_id: str) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags.get(dag_id)
    assert dag is not None, f"DAG {dag_id} is missing"
    edges = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    assert edges == CONTRACT_EDGES[dag_id]


def test_schedules_and_run_limits(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.dags["generate_data"].timetable.expression in ("@daily", "0 0 * * *")
    retrain = dagbag.dags["retrain"]
    assert retrain.timetable.expression in ("@weekly", "0 0 * * 0")
    assert retrain.max_active_runs == 1
    assert retrain.catchup is False


def test_scoring_and_monitoring_run_on_the_days_assets(dagbag) -> None:  # type: ignore[no-untyped-def]
    # batch_predict and monitor_drift run per day whose features land; monitor_performance per labelled day
    from airflow.sdk import PartitionedAssetTimetable

    from retrain.airflow.assets import FEATURES, LABELS

    expected = {"batch_predict": FEATURES, "monitor_drift": FEATURES, "monitor_performance": LABELS}
    for dag_id, asset in expected.items():
        timetable = dagbag.dags[dag_id].timetable
        assert isinstance(timetable, PartitionedAssetTimetable), dag_id
        assert timetable.asset_condition == asset, dag_id
    generate = dagbag.dags["generate_data"].get_task("generate")
    assert {a.name for a in generate.outlets} == {FEATURES.name, LABELS.name}


def test_predict_batch_is_dynamically_mapped(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dagbag.dags["batch_predict"].get_task("predict_batch"), MappedOperator)


def test_every_task_alerts_on_failure_and_retries_per_settings(dagbag) -> None:  # type: ignore[no-untyped-def]
    from retrain.airflow.notifier import FailureAlertNotifier

    for dag in dagbag.dags.values():
        for task in dag.tasks:
            callbacks = (
                task.on_failure_callback if isinstance(task.on_failure_callback, list) else [task.on_failure_callback]
            )
            assert any(isinstance(cb, FailureAlertNotifier) for cb in callbacks), f"{dag.dag_id}.{task.task_id}"
            if not task.task_id.startswith("wait_for_"):
                assert task.retries == 3, f"{dag.dag_id}.{task.task_id} ignores RETRAIN_TASK_RETRIES"


def test_every_task_silences_the_known_harmless_warnings_where_it_runs(dagbag, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Airflow parses a DAG file inside warnings.catch_warnings(): a filter set at import is gone when the
    # task runs, so each task sets them again as it starts (plain `airflow dags test`, a worker)
    import warnings

    from retrain.airflow.defaults import quiet_task

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)  # no user's own ask (it would keep every warning)
    monkeypatch.setattr(sys, "warnoptions", [])
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            callbacks = task.on_execute_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert quiet_task in callbacks, f"{dag.dag_id}.{task.task_id}"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_task({})
        warnings.warn_explicit("The `airflow.utils.timezone.agm` attribute is deprecated.", FutureWarning, "f", 1,
                               module="skops.io._utils")  # fmt: skip
        warnings.warn_explicit("a warning of ours", FutureWarning, "f", 1, module="retrain.model.train")
    assert [str(w.message) for w in seen] == ["a warning of ours"]


def test_branch_join_runs_after_either_branch(dagbag) -> None:  # type: ignore[no-untyped-def]
    end = dagbag.dags["retrain"].get_task("end")
    assert end.trigger_rule == "none_failed_min_one_success"


def test_sensors_wait_in_the_triggerer(dagbag) -> None:  # type: ignore[no-untyped-def]
    from retrain.airflow.sensors import DayLandedSensor

    waits = {("retrain", "wait_for_data"), ("batch_predict", "wait_for_data"), ("monitor_drift", "wait_for_data")}
    waits.add(("monitor_performance", "wait_for_labels"))
    for dag_id, task_id in waits:
        sensor = dagbag.dags[dag_id].get_task(task_id)
        assert isinstance(sensor, DayLandedSensor) and sensor.deferrable, (dag_id, task_id)
        assert sensor.mode == "reschedule"  # if ever run not deferred, it still frees its slot


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_does_not_import_heavy_modules(dag_file: Path, airflow_home: Path, tmp_path: Path) -> None:
    """Airflow parses DAG files every few seconds: pandas, sklearn, mlflow belong inside the tasks."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(dag_file)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "RETRAIN_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_approval_required_puts_a_human_between_the_gate_and_the_deploy(airflow_home: Path, tmp_path: Path) -> None:
    """RETRAIN_APPROVAL=required adds `approve_deploy` (the default DAG above has none): the gate's
    deploy goes through a person, whose "Reject" (or timeout) joins the gate's skip in `skip_deploy`."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.operators.hitl import HITLBranchOperator

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETRAIN_HOME", str(tmp_path))
        mp.setenv("RETRAIN_APPROVAL", "required")
        mp.setenv("RETRAIN_APPROVAL_TIMEOUT", "600")
        mp.setenv("RETRAIN_APPROVERS", "alice,bob")
        dag = DagBag(dag_folder=str(DAGS_FOLDER / "retrain_dag.py")).dags["retrain"]

    edges = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    expected = dict(CONTRACT_EDGES["retrain"])
    expected["evaluate_model"] = {*expected["evaluate_model"], "approve_deploy"}  # its question quotes the gate
    expected["decide_deploy"] = {"approve_deploy", "skip_deploy"}
    expected["approve_deploy"] = {"deploy_model", "skip_deploy"}
    assert edges == expected
    approve = dag.get_task("approve_deploy")
    assert isinstance(approve, HITLBranchOperator)
    assert approve.options_mapping == {"Approve": "deploy_model", "Reject": "skip_deploy"}
    assert approve.defaults == ["Reject"]  # what the timeout answers
    assert approve.response_timeout.total_seconds() == 600
    assert approve.assigned_users == [{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}]
    assert dag.get_task("skip_deploy").trigger_rule == "none_failed_min_one_success"
