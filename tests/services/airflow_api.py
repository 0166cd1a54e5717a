"""A small client of Airflow 3's REST API (v2) for the services tests: token, trigger, wait, inspect."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

TERMINAL = {"success", "failed"}


class AirflowApi:
    """Talks to one api-server with a JWT from the simple auth manager's token endpoint."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False)
        response = self.client.post("/auth/token", json={"username": username, "password": password})
        assert response.status_code == 201, f"token endpoint answered {response.status_code}: {response.text}"
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self._call("GET", "/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict]:
        return self._call("GET", "/importErrors")["import_errors"]

    def wait_for_dags(self, dag_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not dag_ids <= self.dag_ids():
            errors = self.import_errors()
            assert not errors, f"DAG import errors: {errors}"
            assert time.monotonic() < deadline, f"DAGs {sorted(dag_ids - self.dag_ids())} not parsed in {timeout}s"
            time.sleep(1)

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, ds: str, conf: dict | None = None) -> str:
        run_id = f"services__{ds}"
        self._call(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": f"{ds}T00:00:00Z", "conf": conf or {}},
        )
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Poll until every run is success or failed; fails after `timeout` seconds with the states seen."""
        deadline = time.monotonic() + timeout
        while True:
            states = {run_id: self.run_state(dag_id, run_id) for run_id in run_ids}
            if all(state in TERMINAL for state in states.values()):
                return states
            assert time.monotonic() < deadline, f"{dag_id} runs not finished after {timeout:.0f}s: {states}"
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._call(
            "GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 500}
        )["task_instances"]
