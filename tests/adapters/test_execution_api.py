"""The in-process Execution API built for the newest API version only, and left alone when that cannot hold.

Each case runs in a fresh interpreter: the swap changes Airflow's module state for the whole process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from airflow.api_fastapi.execution_api import versions
from airflow.sdk.api.datamodels import _generated
if sys.argv[1] == "other-sdk":
    _generated.API_VERSION = "2000-01-01"  # an SDK speaking a version this Airflow does not have first
from airflow.api_fastapi.execution_api.routes import execution_api_router
every = [v.value for v in versions.bundle.versions]
routes_before = len(execution_api_router.routes)
from retrain.airflow.execution_api import serve_only_newest_version
first, again = serve_only_newest_version(), serve_only_newest_version()
from airflow.sdk.execution_time import supervisor
api = supervisor.in_process_api_server()
app = api.app
import httpx
client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid/")
health = client.get("/health", headers={"Airflow-API-Version": versions.bundle.versions[0].value})
print(json.dumps({
    "first": first, "again": again, "every": every,
    "kept": [v.value for v in versions.bundle.versions],
    "sdk": _generated.API_VERSION,
    "built": app._cadwyn_initialized,
    "routes": sorted(app.router.versioned_routers),
    "router_kept_its_routes": len(execution_api_router.routes) == routes_before,
    "health": health.status_code,
}))
"""


def _probe(case: str, airflow_home: Path) -> dict:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, case], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_the_newest_version_is_built_and_it_is_the_sdks(tmp_path: Path) -> None:
    # when the runner's swap runs (twice: it is idempotent)
    seen = _probe("newest", tmp_path)
    # then: one version, the newest Airflow serves and the SDK's, built once and answering requests
    assert seen["first"] is True and seen["again"] is True
    assert seen["kept"] == [seen["sdk"]] == seen["every"][:1]
    assert len(seen["every"]) > 1
    assert seen["built"] is True and seen["routes"] == [seen["sdk"]]
    assert seen["health"] == 200
    # and Airflow's shared router still holds every route (only the build left the older-only ones out)
    assert seen["router_kept_its_routes"] is True


def test_an_sdk_that_speaks_another_version_leaves_every_version_in_place(tmp_path: Path) -> None:
    seen = _probe("other-sdk", tmp_path)
    assert seen["first"] is False
    assert seen["kept"] == seen["every"]
    assert seen["router_kept_its_routes"] is True
    assert seen["health"] == 200  # Airflow built every version itself, on the first request


UNUSED_PROBE = """
import json, sys
from retrain.airflow.execution_api import UNUSED_INTEGRATIONS, serve_only_newest_version
built = serve_only_newest_version()
from airflow.sdk.execution_time import supervisor
import httpx
api = supervisor.in_process_api_server()
client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid/")
from airflow.api_fastapi.execution_api import versions
health = client.get("/health", headers={"Airflow-API-Version": versions.bundle.versions[0].value})
loaded = sorted(name for name in ("aiohttp", "flask", *UNUSED_INTEGRATIONS) if name in sys.modules)
import svcs.flask  # still importable on purpose afterwards
later = "svcs.flask" in sys.modules
print(json.dumps({"built": built, "health": health.status_code, "loaded": loaded, "later": later}))
"""


def test_the_api_is_built_without_svcs_unused_integrations_which_stay_importable(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", UNUSED_PROBE], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"built": True, "health": 200, "loaded": [], "later": True}
