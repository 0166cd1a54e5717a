"""The CI/CD files: the workflow passes actionlint, and the deploy job's trigger speaks Airflow's REST API.

actionlint comes from a dev dependency that ships the binary in its wheel (nothing is downloaded at
test time). The trigger script runs against a stand-in api-server on 127.0.0.1 that records what it got.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"  # the venv's, from the dev dependency


def test_the_workflow_passes_actionlint() -> None:
    binary = ACTIONLINT if ACTIONLINT.is_file() else shutil.which("actionlint")
    assert binary, "actionlint is a dev dependency: run `make install`"
    result = subprocess.run(
        [str(binary), "-no-color", str(WORKFLOW.relative_to(REPO))], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_gates_quality_and_deploys_only_main_after_approval() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    assert {"lint", "tests", "quality", "deploy"} <= set(jobs)
    assert set(jobs["tests"]["services"]) == {"postgres", "redis"}
    assert any(step.get("run") == "make test" for step in jobs["tests"]["steps"])
    assert any(step.get("run") == "make check" for step in jobs["quality"]["steps"])
    assert any("upload-artifact" in step.get("uses", "") for step in jobs["quality"]["steps"])
    deploy = jobs["deploy"]
    assert deploy["environment"]["name"] == "production"
    assert set(deploy["needs"]) == {"lint", "tests", "quality"}
    assert "refs/heads/main" in deploy["if"]
    assert deploy["steps"][-1]["run"] == "deploy/trigger-retrain.sh"


class _Airflow(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict, str]] = []
    answer = 200

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body, self.headers.get("Authorization", "")))
        if self.path == "/auth/token":
            status, reply = 201, {"access_token": "jwt-123"}
        else:
            status, reply = type(self).answer, {"dag_run_id": body["dag_run_id"], "state": "queued"}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def airflow() -> Iterator[str]:
    _Airflow.requests, _Airflow.answer = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Airflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _trigger(url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "AIRFLOW_URL": url,
        "AIRFLOW_USER": "deployer",
        "AIRFLOW_PASSWORD": "s3cret-pass",
        "RETRAIN_DATE": "2026-01-05",
        "GITHUB_SHA": "abc123",
    }
    return subprocess.run(
        ["bash", str(REPO / "deploy" / "trigger-retrain.sh")], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs jq and curl")
def test_the_deploy_job_triggers_retrain_with_trigger_manual(airflow: str) -> None:
    # when: the deploy job's last step runs against the api-server
    result = _trigger(airflow)
    # then: a token, then one POST /api/v2/dags/retrain/dagRuns with conf trigger=manual, named by the commit
    assert result.returncode == 0, result.stderr
    (token_path, credentials, _), (path, body, auth) = _Airflow.requests
    assert (token_path, credentials) == ("/auth/token", {"username": "deployer", "password": "s3cret-pass"})
    assert path == "/api/v2/dags/retrain/dagRuns" and auth == "Bearer jwt-123"
    assert body["conf"] == {"trigger": "manual"}
    assert (body["dag_run_id"], body["logical_date"]) == ("deploy__abc123", "2026-01-05T00:00:00Z")
    assert "triggered retrain run deploy__abc123" in result.stdout
    # and: a rerun of the job finds the run there (409) and succeeds without a second one
    _Airflow.answer = 409
    again = _trigger(airflow)
    assert again.returncode == 0 and "already exists" in again.stdout
    # and: any other answer fails the job with Airflow's words
    _Airflow.answer = 403
    refused = _trigger(airflow)
    assert refused.returncode == 1 and "answered 403" in refused.stderr
