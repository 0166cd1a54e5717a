"""The in-process Execution API built for the newest API versions only, and left alone when that cannot hold.

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
every = [v.value for v in versions.bundle.versions]
from retrain.airflow.execution_api import serve_only_newest_versions
first, again = serve_only_newest_versions(), serve_only_newest_versions()
from airflow.sdk.execution_time import supervisor
app = supervisor.in_process_api_server().app
print(json.dumps({
    "first": first, "again": again, "every": every,
    "kept": [v.value for v in versions.bundle.versions],
    "sdk": _generated.API_VERSION,
    "built": app._cadwyn_initialized,
    "routes": sorted(app.router.versioned_routers),
}))
"""


def _probe(case: str, airflow_home: Path) -> dict:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, case], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_the_newest_versions_are_built_and_the_sdks_is_one_of_them(tmp_path: Path) -> None:
    # when the runner's swap runs (twice: it is idempotent)
    seen = _probe("newest", tmp_path)
    # then: fewer versions than Airflow serves, the newest first and equal to the SDK's, routes built once
    assert seen["first"] is True and seen["again"] is True
    assert seen["kept"][0] == seen["sdk"] == seen["every"][0]
    assert len(seen["kept"]) < len(seen["every"])
    assert seen["built"] is True and seen["sdk"] in seen["routes"]


def test_an_sdk_that_speaks_another_version_leaves_every_version_in_place(tmp_path: Path) -> None:
    seen = _probe("other-sdk", tmp_path)
    assert seen["first"] is False
    assert seen["kept"] == seen["every"]
    assert seen["built"] is False  # Airflow builds every version itself, on the first request
