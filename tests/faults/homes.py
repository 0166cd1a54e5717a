"""Homes built and used the way a user does: the `retrain` command in fresh processes, a shell environment
with no AIRFLOW_HOME (retrain puts it under RETRAIN_HOME), SQLite for Airflow and MLflow."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from retrain.ops.environment import clean_environ

RETRAIN = str(Path(sys.executable).with_name("retrain"))
DAYS = [f"2025-12-{day:02d}" for day in range(1, 9)]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell for `home`: small days, no retries, a quick sensor, a quick estimator."""
    return {
        **clean_environ(),
        "RETRAIN_HOME": str(home),
        "RETRAIN_ROWS_PER_DAY": "400",
        "RETRAIN_TASK_RETRIES": "0",
        "RETRAIN_WAIT_TIMEOUT": "2",
        "RETRAIN_WAIT_POKE_INTERVAL": "1",
        "RETRAIN_ESTIMATOR_PARAMS": '{"max_iter": 30}',
        **extra,
    }


def build_home(home: Path, days: list[str], retrain_on: str | None = None) -> None:
    """Land `days` (and deploy a first champion on `retrain_on`) in ONE fresh process, through the path
    `retrain run` takes (`prepare_airflow_home`, then `DagRunner`): nine runs for the price of one start."""
    script = textwrap.dedent(
        f"""
        from retrain.ops.home import prepare_airflow_home, project_dags_folder
        from retrain.settings import load_settings

        airflow_home = prepare_airflow_home(load_settings())
        from retrain.airflow.runner import DagRunner

        runner = DagRunner(project_dags_folder(), airflow_home)
        for ds in {days!r}:
            assert runner.run("generate_data", ds).ok, ds
        if {retrain_on!r}:
            result = runner.run("retrain", {retrain_on!r})
            assert result.tasks["deploy_model"] == "success", result.tasks
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=cli_env(home), capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]


def retrain_cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`retrain ARGS` for `home` in a fresh process, run from the folder that holds the home."""
    return subprocess.run(
        [RETRAIN, *args],
        env=cli_env(home, **extra),
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
