"""Start `dag.test()`'s in-process Execution API with only the API version this process speaks.

Every task `dag.test()` runs talks to Airflow's Execution API, served in the same process
(`airflow.sdk.execution_time.supervisor.in_process_api_server`). On its first request the API (a
Cadwyn app) generates its routes for every API version Airflow still serves to older workers: nine in
Airflow 3.2, about 9.6 s of a single `retrain run` on this 2-core machine (py-spy: a third of the
command), paid again by each new process. The task SDK in this same process speaks only the newest
version (`airflow.sdk.api.datamodels._generated.API_VERSION`), so the older versions' routes are never
used here.

`serve_only_newest_version()` swaps Airflow's version bundle for one holding the newest version alone,
with no changes: in Cadwyn a version's changes describe how it differs from the one before it, so the
newest version is the head schema as written. The routes only older versions have (marked
`only_exists_in_older_versions`, which Cadwyn refuses to build without the older version that restores
them) are left out while the routes are built. Measured side by side: 9.6 s for every version, 2.0 s
for the newest three, 0.63 s for the newest alone. Whenever anything about that does not hold
(another SDK version, a Cadwyn that refuses the bundle), it puts Airflow's own bundle back and Airflow
builds every version as before: slower, never wrong. Only `retrain`'s in-process runner calls it; an
api-server process is never touched.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

UNUSED_INTEGRATIONS = ("svcs.aiohttp", "svcs.flask")
"""svcs' integrations the Execution API never uses (it uses `svcs.fastapi`), imported by `svcs` whenever
aiohttp and Flask are installed (MLflow installs both): aiohttp's web server and Flask, ~0.18 s of
every command on this 2-core machine (`-X importtime`), for nothing."""


@contextmanager
def _without_unused_integrations() -> Iterator[None]:
    """Inside the block, `import svcs` leaves out `UNUSED_INTEGRATIONS` (it skips any that fail to import).

    A `None` in `sys.modules` makes an import of that name fail at once; the entries are removed on
    leaving, so anything importing them later on purpose still can.
    """
    blocked = [name for name in UNUSED_INTEGRATIONS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def serve_only_newest_version() -> bool:
    """Build the in-process Execution API's routes for the newest API version only; True if it did.

    Idempotent (the API is built once per process). Never raises: on any trouble Airflow's own version
    bundle is restored and the API is left to build every version on its first request.
    """
    try:
        with _without_unused_integrations():
            from airflow.api_fastapi.execution_api import versions
            from airflow.api_fastapi.execution_api.routes import execution_api_router
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from airflow.sdk.execution_time import supervisor
        from cadwyn import HeadVersion, Version, VersionBundle
        from cadwyn.route_generation import _DELETED_ROUTE_TAG
    except ImportError:  # another Airflow or Cadwyn layout: leave it alone
        return False
    if getattr(versions, "_retrain_trimmed", False):
        return True
    original = versions.bundle
    if not original.versions or original.versions[0].value != API_VERSION:
        return False
    every_change = [change for version in original.versions for change in version.changes]
    every_route = execution_api_router.routes
    try:
        for change in every_change:  # a version change may belong to one bundle at a time
            change._bound_version_bundle = None
        versions.bundle = VersionBundle(HeadVersion(), Version(API_VERSION))
        execution_api_router.routes = [r for r in every_route if _DELETED_ROUTE_TAG not in getattr(r, "tags", ())]
        supervisor.in_process_api_server.cache_clear()
        supervisor.in_process_api_server().app._cadwyn_initialize()
    except Exception as exc:
        log.debug("the Execution API with the newest version alone does not build: %s", exc)
        versions.bundle = original
        for change in every_change:
            change._bound_version_bundle = original
        supervisor.in_process_api_server.cache_clear()
        return False
    finally:
        execution_api_router.routes = every_route
    versions._retrain_trimmed = True
    return True
