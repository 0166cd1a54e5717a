"""The `retrain` command and plain `airflow dags test`, as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: only PATH, HOME and RETRAIN_HOME; AIRFLOW_HOME as the README says."""
    home = tmp_path / "retrain-home"
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RETRAIN_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "RETRAIN_ROWS_PER_DAY": "600",
        "RETRAIN_TASK_RETRIES": "0",
        "RETRAIN_WAIT_TIMEOUT": "1",
        "RETRAIN_WAIT_POKE_INTERVAL": "1",
    }


def test_run_then_plain_airflow_dags_test_then_status(user_env: dict[str, str]) -> None:
    # when: a day lands through `retrain run`, then plain `airflow dags test` retrains on it (a user's shell:
    # no PYTHONWARNINGS)
    landed = run([str(BIN / "retrain"), "run", "generate_data", "--date", "2025-12-25"], user_env)
    assert landed.returncode == 0, landed.stdout[-3000:] + landed.stderr[-3000:]
    assert (Path(user_env["RETRAIN_HOME"]) / "data/raw/2025-12-25/data.csv").is_file()
    trained = run([str(BIN / "airflow"), "dags", "test", "retrain", "2025-12-25"], user_env)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    # and: quiet without `retrain`: none of the ~1,160 FutureWarnings skops raised walking Airflow's
    # deprecated-alias modules while it dumped and audited the model (the DAGs filter them)
    output = (trained.stdout + trained.stderr).splitlines()
    noise = [line for line in output if "DeprecatedImportWarning" in line or "skops" in line]
    assert noise == [], f"{len(noise)} lines, e.g. {noise[:3]}"
    assert "train_model" in trained.stdout + trained.stderr  # the run's own log is still there

    # then: status --json has the contract's shape, with the deploy in it
    status = run([str(BIN / "retrain"), "status", "--json"], user_env)
    assert status.returncode == 0, status.stderr[-3000:]
    data = json.loads(status.stdout)
    assert data["model_name"] == "retrain-model"
    assert set(data["champion"]) == {"version", "metric", "score", "ds", "label"}
    assert data["champion"]["version"] == "1"
    assert data["champion"]["ds"] == "2025-12-25"
    (entry,) = data["history"]
    assert set(entry) >= {
        "ds",
        "challenger_score",
        "champion_score",
        "threshold",
        "decision",
        "version",
        "trigger",
        "reasons",
        "ci_low",
        "ci_high",
        "approved_by",
    }
    assert entry["decision"] == "deploy"
    assert entry["approved_by"] is None and entry["ci_low"] is None  # no champion: no interval of the gain
    assert entry["trigger"] == "manual"


def test_failed_run_exits_non_zero_and_says_only_what_matters(user_env: dict[str, str]) -> None:
    # when: a retrain runs for a day with no data (its sensor gives up after 1 s)
    result = run([str(BIN / "retrain"), "run", "retrain", "--date", "2025-12-20"], user_env)

    # then: it fails, and the terminal shows the tasks' states, the failing task's error and the log path,
    # not Airflow's logs nor library warnings
    assert result.returncode == 1
    out = result.stdout
    log_path = Path(user_env["RETRAIN_HOME"]) / "logs" / "run-retrain-2025-12-20.log"
    assert f"task logs: {log_path}" in " ".join(out.split()) or str(log_path) in out.replace("\n", "")
    (error_line,) = [line for line in out.splitlines() if line.startswith("wait_for_data failed:")]
    assert "2025-12-20" in error_line or "Timeout" in error_line or "timed out" in error_line, error_line
    assert len(out.splitlines()) < 30, out
    assert "[info" not in out and "Warning" not in out + result.stderr
    # and: the task logs are in the file
    assert "[DAG TEST] starting task_id=wait_for_data" in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (["run", "nope", "--date", "2025-12-20"], {}, "no DAG with id 'nope'"),
        (["run", "retrain", "--date", "20-12-2025"], {}, "YYYY-MM-DD"),
        (["status"], {"RETRAIN_METRIC_THRESHOLD": "high"}, "RETRAIN_METRIC_THRESHOLD"),
        (["status"], {"RETRAIN_METRC": "f1"}, "did you mean RETRAIN_METRIC"),
    ],
)
def test_bad_arguments_and_settings_fail_with_a_clear_message(
    user_env: dict[str, str], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    result = run([str(BIN / "retrain"), *args], {**user_env, **extra_env})
    assert result.returncode == 2
    assert message in " ".join((result.stdout + result.stderr).split())
