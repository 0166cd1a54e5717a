"""MLflow's usage telemetry is off in every process that imports retrain, unless the user opts in."""

from __future__ import annotations

import os
import subprocess
import sys

# MLflow also turns telemetry off by itself under pytest or CI: the child process must not look like either.
_TESTING_MARKERS = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")


def _python(code: str, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _TESTING_MARKERS}
    # Should telemetry start anyway, its requests fail on a closed loopback port instead of leaving the machine.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="", **extra)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_retrain_before_mlflow_leaves_mlflow_without_a_telemetry_client():
    code = "import retrain, mlflow; from mlflow.telemetry import get_telemetry_client; print(get_telemetry_client())"
    assert _python(code) == "None"


def test_a_user_who_opts_in_keeps_their_choice():
    code = "import os, retrain; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"
    assert _python(code, MLFLOW_DISABLE_TELEMETRY="false") == "false"
