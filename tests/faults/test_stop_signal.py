"""`retrain run` stopped by a supervisor (SIGTERM) exits within seconds, and leaves a clean state
(issue 13 item 12): the DAG run marked failed (nothing left `running`), no half-written output, nothing
deployed or recorded; a rerun of the day then completes.

Injected for real: `retrain run` in a fresh process, SIGTERM once the output shows the task started and
had a second to get going. Two places: inside `train_model` (where Airflow's task runner has replaced
the SIGTERM handler with one that only calls the operator's `on_kill()`: before the fix the whole run
went on for 40 s and deployed), and inside the `wait_for_data` sensor of a day without data.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.homes import DAYS, RETRAIN, build_home, cli_env, retrain_cli

pytestmark = pytest.mark.integration

PROMPT = 5.0
"""Seconds a stopped run may take to exit (measured: under 2 s on this 2-core machine under load)."""
SLOW_TRAINING = '{"max_iter": 5000, "early_stopping": false}'  # tens of seconds of boosting: surely mid-task


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A week of data, no model yet."""
    home = tmp_path_factory.mktemp("stop") / "home"
    build_home(home, DAYS)
    return home


def _stop_during(home: Path, tmp_path: Path, ds: str, task_id: str, **extra: str) -> tuple[int, float, str]:
    """Start `retrain run retrain --date ds`, SIGTERM it 1 s after `task_id` started; (exit code, seconds
    from the signal to the exit, output)."""
    output = tmp_path / "run.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [RETRAIN, "run", "retrain", "--date", ds, "--verbose"],  # task logs on stdout
            env=cli_env(home, **extra),
            cwd=home.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 300
        while f"starting task_id={task_id}" not in output.read_text(errors="replace"):
            assert process.poll() is None, f"the run ended before {task_id}:\n{output.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{task_id} did not start:\n{output.read_text()[-3000:]}"
            time.sleep(0.2)
        time.sleep(1.0)
        assert process.poll() is None, "the run ended before the signal"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        return code, time.monotonic() - sent, output.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _run_states(home: Path, ds: str) -> tuple[str, dict[str, str]]:
    db = sqlite3.connect(home / "airflow" / "airflow.db")
    try:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = 'retrain' AND logical_date LIKE ? ORDER BY id DESC",
            (f"{ds}%",),
        ).fetchone()
        tasks = dict(db.execute("SELECT task_id, state FROM task_instance WHERE run_id = ?", (run_id,)).fetchall())
    finally:
        db.close()
    return state, tasks


def _partial_files(root: Path) -> list[str]:
    """Temporary or hidden files: what an interrupted atomic write would leave."""
    return [str(p) for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or ".tmp" in p.name)]


def test_sigterm_during_training_stops_the_run_cleanly_and_promptly(home: Path, tmp_path: Path) -> None:
    # when: a supervisor stops `retrain run` in the middle of train_model
    code, seconds, output = _stop_during(home, tmp_path, DAYS[6], "train_model", RETRAIN_ESTIMATOR_PARAMS=SLOW_TRAINING)

    # then: it exits at once, with the code of a SIGTERM and a one-line reason
    assert seconds < PROMPT, f"exited {seconds:.1f}s after SIGTERM"
    assert code == 128 + signal.SIGTERM
    assert "error: stopped by SIGTERM" in output
    # and: the DAG run is failed, its interrupted task failed, the rest never ran: nothing left running
    state, tasks = _run_states(home, DAYS[6])
    assert state == "failed"
    assert tasks["train_model"] == "failed"
    assert tasks["prepare_data"] == "success"
    later = {tasks[t] for t in ("evaluate_model", "decide_deploy", "deploy_model", "notify_success")}
    assert later <= {"skipped", "upstream_failed"}, tasks
    # and: nothing half-written, nothing trained, deployed or recorded for the day
    data = home / "data"
    assert _partial_files(data) == []
    assert not (data / "models" / DAYS[6]).exists()
    assert not (home / "ledger.jsonl").exists() or DAYS[6] not in (home / "ledger.jsonl").read_text()
    if (home / "mlflow.db").exists():  # no MLflow run had started yet: often no store at all
        store = sqlite3.connect(f"file:{home / 'mlflow.db'}?mode=ro", uri=True)
        try:
            assert store.execute("SELECT count(*) FROM model_versions").fetchone() == (0,)
        finally:
            store.close()

    # and: the day runs again to its end (a clean state to restart from)
    rerun = retrain_cli(home, "run", "retrain", "--date", DAYS[6])
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert _run_states(home, DAYS[6])[1]["deploy_model"] == "success"
    # and its summary ends with the decision the history recorded (the first champion: no interval)
    assert "decision: deploy version 1; roc_auc " in rerun.stdout and "(no champion yet)" in rerun.stdout


def test_sigterm_while_the_sensor_waits_stops_promptly(home: Path, tmp_path: Path) -> None:
    # when: the run of a day without data is stopped while its sensor waits (it would wait 120 s)
    code, seconds, output = _stop_during(home, tmp_path, "2026-01-31", "wait_for_data", RETRAIN_WAIT_TIMEOUT="120")

    # then: it exits at once, the run failed and nothing waits any more
    assert seconds < PROMPT, f"exited {seconds:.1f}s after SIGTERM"
    assert code == 128 + signal.SIGTERM
    assert "error: stopped by SIGTERM" in output
    state, tasks = _run_states(home, "2026-01-31")
    assert state == "failed"
    assert tasks["wait_for_data"] == "failed"
    assert "running" not in tasks.values() and "up_for_reschedule" not in tasks.values()
