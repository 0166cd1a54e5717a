"""Shared machinery of the fault-injection suite: module-wide homes, a Bot API stand-in, state snapshots.

Every module builds ONE home (data, MLflow store, ledger) in a module-scoped fixture and injects its
faults into it, so that the expensive part (a trained champion) is paid once per module.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from retrain.ops.environment import is_setting
from tests.conftest import DAGS_FOLDER, REPO, clear_airflow_runs
from tests.helpers.telegram_server import TelegramServer

pytestmark = pytest.mark.integration

TOKEN = "777001:FAULTS-secret-token-Zq9x"
CHAT = "31337"
KILLER = Path(__file__).with_name("killer.py")


@contextmanager
def environment(home: Path, **extra: str) -> Iterator[pytest.MonkeyPatch]:
    """A clean retrain environment for a whole module (module fixtures cannot use `monkeypatch`)."""
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if is_setting(key):
            mp.delenv(key, raising=False)
    env = {
        "RETRAIN_HOME": str(home),
        "RETRAIN_ROWS_PER_DAY": "400",
        "RETRAIN_TASK_RETRIES": "2",  # retries are allowed: bad data must still fail on its first try
        "RETRAIN_RETRY_DELAY": "0",
        "RETRAIN_WAIT_TIMEOUT": "2",
        "RETRAIN_WAIT_POKE_INTERVAL": "1",
        "RETRAIN_NOTIFY_RETRIES": "2",
        "RETRAIN_NOTIFY_TIMEOUT": "2",
        "RETRAIN_ESTIMATOR_PARAMS": '{"max_iter": 30}',
        **extra,
    }
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        yield mp
    finally:
        mp.undo()


@pytest.fixture(scope="module", autouse=True)
def fresh_airflow_runs() -> None:
    """Each module starts with no DAG run in the session's Airflow DB (its tests share one home)."""
    clear_airflow_runs()


@pytest.fixture(scope="module")
def tg() -> Iterator[TelegramServer]:
    with TelegramServer() as server:
        yield server


def runner_for(airflow_home: Path) -> Any:
    """A DagRunner parsed with the current environment (retries and sensor settings are read at parse time)."""
    from retrain.airflow.runner import DagRunner

    return DagRunner(DAGS_FOLDER, airflow_home)


def sent(server: TelegramServer) -> list[str]:
    return [r.json["text"] for r in server.requests if r.api_method == "sendMessage" and isinstance(r.json, dict)]


def digest_tree(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` (missing root: empty)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def registry_state() -> dict[str, Any]:
    """The champion, every version with its tags, and the champion history: what a fault must not change."""
    from retrain.registry import Registry
    from retrain.settings import load_settings

    registry = Registry.from_settings(load_settings())
    champion = registry.champion()
    return {
        "champion": champion.version if champion else None,
        "versions": [(v["version"], v["run_id"], sorted(v["tags"].items())) for v in registry.versions()],
        "history": registry._history() if registry.store_exists() else [],
    }


def run_killed(dag_id: str, ds: str, target: str, when: str, conf: dict | None = None, timeout: int = 240) -> int:
    """Run a DAG in a fresh process that SIGKILLs itself `when` ("before"/"after") `target` is called.

    `target` is "module:attr" or "module:Class.method". Returns the process's exit code (-9 if killed).
    """
    import json

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(KILLER), dag_id, ds, target, when, json.dumps(conf or {})]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != -9:
        raise AssertionError(
            f"the process was not killed at {when} {target} (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.returncode
