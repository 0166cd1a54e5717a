"""The production topology (CeleryExecutor on PostgreSQL and Redis, two workers, an MLflow server) as
local processes, once per module; skipped with the reason when PostgreSQL or Redis do not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.topology import LocalTopology, database_exists, probe_services, redis_keys_with

pytestmark = pytest.mark.services

SERVICES_SETTINGS = {
    "RETRAIN_ROWS_PER_DAY": "400",
    "RETRAIN_BATCH_ROWS": "50",  # 8 mapped predict_batch tasks per day: enough for both workers
    "RETRAIN_TASK_RETRIES": "0",
    "RETRAIN_WAIT_TIMEOUT": "60",
    "RETRAIN_WAIT_POKE_INTERVAL": "5",
}


def _processes_using(path: Path) -> list[str]:
    """Every process on the machine whose AIRFLOW_HOME or RETRAIN_HOME lies under `path`."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if any(env.get(key, "").startswith(str(path)) for key in ("AIRFLOW_HOME", "RETRAIN_HOME")):
            found.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
    return found


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTopology]:
    reason = probe_services()
    if reason:
        pytest.skip(f"services tests need PostgreSQL and Redis on 127.0.0.1: {reason}")
    root = tmp_path_factory.mktemp("topology")
    topo = LocalTopology(root, retrain_env=dict(SERVICES_SETTINGS), workers=2, worker_concurrency=2)
    with topo:
        yield topo
    # The teardown is part of the contract: nothing of this run is left on the machine.
    assert topo.group is not None
    assert topo.group.leftovers() == [], "processes left behind by the topology"
    assert _processes_using(root) == [], "processes of this run still alive"
    assert not database_exists(topo.pg_dsn, topo.airflow_db)
    assert not database_exists(topo.pg_dsn, topo.mlflow_db)
    assert redis_keys_with(topo.redis_url, topo.redis_db, topo.token) == []


def dump_logs(topo: LocalTopology, lines: int = 40) -> str:
    """The end of every service log and of every failed task's log, for an assertion message."""
    parts = []
    for name, path in topo.logs():
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"== {name}\n" + "\n".join(tail))
    for log in sorted((topo.airflow_home / "logs").rglob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        if "ERROR" in text or "Traceback" in text:
            parts.append(f"== {log.relative_to(topo.airflow_home)}\n" + "\n".join(text.splitlines()[-lines:]))
    return "\n".join(parts)
