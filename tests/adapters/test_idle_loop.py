"""`dag.test()`'s idle sleep backed off: a failure's downstream levels settle fast, states unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from test_isolation import DS, IMPORTABLE

LEVELS = 6


def fail() -> None:
    raise RuntimeError("the first task fails")


def run_failing_chain(out: str) -> None:
    """Build, register and run a DAG whose first task fails above LEVELS chained tasks; write what happened.

    Runs in a fresh process with its own AIRFLOW_HOME (see `test_isolation.run_virtualenv_dag`).
    """
    from airflow.sdk import chain, task
    from test_isolation import _dag, _register

    from retrain.airflow.idle_loop import backed_off_idle_sleep
    from retrain.airflow.runner import ensure_database

    ensure_database(Path(os.environ["AIRFLOW_HOME"]))

    def build() -> None:
        first = task(task_id="first", retries=0)(fail)()
        chain(first, *[task(task_id=f"after_{i}")(lambda: None)() for i in range(LEVELS)])

    dag = _dag("idle_failing_chain", build)
    _register(dag)
    original = time.sleep
    other_sleep = time.perf_counter()
    time.sleep(0.2)  # a sleep of anyone but dag.test() is left alone
    other_sleep = time.perf_counter() - other_sleep
    with backed_off_idle_sleep() as sleeps:
        run = dag.test(logical_date=datetime.fromisoformat(f"{DS}T00:00:00+00:00"))
        inside = time.perf_counter()
        time.sleep(0.2)
        inside = time.perf_counter() - inside
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    Path(out).write_text(
        json.dumps(
            {
                "run": str(getattr(run.state, "value", run.state)),
                "states": states,
                "count": sleeps.count,
                "seconds": sleeps.seconds,
                "other_sleep": other_sleep,
                "inside": inside,
                "restored": time.sleep is original,
            }
        )
    )


def test_a_failure_settles_in_backed_off_sleeps(tmp_path: Path) -> None:
    # given a DAG whose first task fails, with LEVELS tasks chained below it (one level settles per pass)
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "PYTHONPATH": IMPORTABLE}
    out = tmp_path / "result.json"
    code = f"import test_idle_loop as t; t.run_failing_chain({str(out)!r})"

    # when it runs under backed_off_idle_sleep (in a process of its own: see run_failing_chain)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)

    # then the states are what dag.test always gives (the failure, then every level upstream_failed)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["run"] == "failed"
    assert got["states"] == {"first": "failed", **{f"after_{i}": "upstream_failed" for i in range(LEVELS)}}
    # and the idle passes slept 0.05, 0.1, 0.2, ... s (capped at 1 s), not a second each
    assert 1 <= got["count"] <= LEVELS + 1
    assert got["seconds"] < 0.6 * got["count"]
    backed_off = sum(min(1.0, 0.05 * 2**i) for i in range(got["count"]))
    assert abs(got["seconds"] - backed_off) < 1e-9
    # while anyone else's sleep, inside the block or out, sleeps what it asked
    assert got["other_sleep"] >= 0.2 and got["inside"] >= 0.2
    assert got["restored"]
