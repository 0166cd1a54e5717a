"""Start `dag.test()`'s in-process Execution API with only the API versions this process speaks.

Every task `dag.test()` runs talks to Airflow's Execution API, served in the same process
(`airflow.sdk.execution_time.supervisor.in_process_api_server`). On its first request the API (a
Cadwyn app) generates its routes for every API version Airflow still serves to older workers: nine in
Airflow 3.2, about 9.6 s of a single `retrain run` on this 2-core machine (py-spy: a third of the
command), paid again by each new process. The task SDK in this same process speaks only the newest
version (`airflow.sdk.api.datamodels._generated.API_VERSION`), so the older versions' routes are never
used here.

`serve_only_newest_versions()` swaps Airflow's version bundle for one that keeps the newest versions
down to the first set Cadwyn accepts (a route the newest version removed must still be restored by an
older one: in Airflow 3.2 that is the newest two, plus an empty oldest version), and builds the routes
at once. 9.6 s became 2.8 s measured side by side. Whenever anything about that does not hold (another
SDK version, a Cadwyn that refuses the bundle), it puts Airflow's own bundle back and Airflow builds
every version as before: slower, never wrong. Only `retrain`'s in-process runner calls it; an
api-server process is never touched.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _bind(bundle: Any, version_changes: list[Any]) -> None:
    for change in version_changes:
        change._bound_version_bundle = bundle


def serve_only_newest_versions() -> bool:
    """Build the in-process Execution API's routes for the newest API versions only; True if it did.

    Idempotent (the API is built once per process). Never raises: on any trouble Airflow's own version
    bundle is restored and the API is left to build every version on its first request.
    """
    try:
        from airflow.api_fastapi.execution_api import versions
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from airflow.sdk.execution_time import supervisor
        from cadwyn import HeadVersion, Version, VersionBundle
    except ImportError:  # another Airflow layout: leave it alone
        return False
    if getattr(versions, "_retrain_trimmed", False):
        return True
    original = versions.bundle
    every_change = [change for version in original.versions for change in version.changes]
    if not original.versions or original.versions[0].value != API_VERSION:
        return False
    for keep in range(1, len(original.versions)):
        kept = list(original.versions[:keep])
        _bind(None, every_change)  # a version change may belong to one bundle at a time
        try:
            versions.bundle = VersionBundle(HeadVersion(), *kept, Version(original.versions[keep].value))
            supervisor.in_process_api_server.cache_clear()
            supervisor.in_process_api_server().app._cadwyn_initialize()
        except Exception as exc:  # this many versions are not enough for Cadwyn: try one more
            log.debug("the Execution API with %d version(s) does not build: %s", keep + 1, exc)
            continue
        versions._retrain_trimmed = True
        log.debug("in-process Execution API: versions %s", [v.value for v in versions.bundle.versions])
        return True
    versions.bundle = original
    _bind(original, every_change)
    supervisor.in_process_api_server.cache_clear()
    return False
