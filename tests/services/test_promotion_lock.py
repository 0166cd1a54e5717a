"""Promotions racing from two processes that share nothing but PostgreSQL: exactly one wins the CAS.

Each racer is a fresh Python process with its own artifact folder (so its own file lock, as on another
host), talking to the MLflow registry in a PostgreSQL database of this test's own
(`retrain_lock_test_<pid>`, created and dropped here). Both read the champion at the same moment (a go
signal on their stdin) and are slowed down inside the compare-and-swap (the champion read sleeps
1.5 s), so that only a lock held across hosts can serialise them. The control run gives each racer
only its local file lock and shows that both then pass the check: the race the advisory lock closes is real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.services.topology import DEFAULT_PG_DSN, create_database, database_exists, drop_database

pytestmark = pytest.mark.services

MODEL = "lock-race"

RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from retrain.registry import Registry, StaleChampionError, store

    tracking_uri, artifact_root, model, version, mode = sys.argv[1:6]
    if mode == "file-lock-only":  # the control: what a file lock gives two hosts
        from retrain.records.ledger import file_lock

        store.promotion_lock = lambda name, path, lock_url, uri: file_lock(path)
    registry = Registry(tracking_uri, model, Path(artifact_root))
    registry.get(version)  # connect and warm up before the race
    read = Registry.champion

    def slow_champion(self):
        found = read(self)
        time.sleep(1.5)  # widen the window between the CAS's read and its write
        return found

    Registry.champion = slow_champion
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: both racers start together
    try:
        registry.promote(version, expected_current=None, reason="race")
        print("outcome ok", flush=True)
    except StaleChampionError as exc:
        print("outcome stale", exc, flush=True)
    except Exception as exc:  # the control: both passed the check and their writes collided in MLflow
        print("outcome collided", type(exc).__name__, flush=True)
    """
)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own; its SQLAlchemy URL. Dropped afterwards."""
    from tests.services.topology import probe_services

    reason = probe_services()
    if reason and "PostgreSQL" in reason:
        pytest.skip(f"needs PostgreSQL on 127.0.0.1: {reason}")
    name = f"retrain_lock_test_{os.getpid()}"
    drop_database(DEFAULT_PG_DSN, name)
    dsn = create_database(DEFAULT_PG_DSN, name)
    try:
        yield dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        drop_database(DEFAULT_PG_DSN, name)
        assert not database_exists(DEFAULT_PG_DSN, name)


def _two_versions(tracking_uri: str, root: Path, model: str) -> list[str]:
    """Register two versions of a small model (in this process, with its own artifact folder)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from retrain.registry import Registry

    registry = Registry(tracking_uri, model, root)
    X = pd.DataFrame({"f0": np.arange(20.0), "f1": np.arange(20.0) % 3})
    y = (X["f0"] > 9).astype(int)
    versions = []
    for ds in ("2025-12-01", "2025-12-08"):
        run_id = registry.log_challenger(
            LogisticRegression().fit(X, y), X, ds=ds, params={}, metrics={}, tags={}, window=[ds]
        )
        versions.append(registry.register(run_id, ds=ds))
    return versions


def _race(tracking_uri: str, root: Path, model: str, versions: list[str], mode: str) -> list[str]:
    """Start one racer per version, release them together; their outcomes ("ok" / "stale")."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, tracking_uri, str(root / f"host-{i}"), model, version, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i, version in enumerate(versions)
    ]
    try:
        for racer in racers:
            line = racer.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() == "ready", f"racer did not start: {line}{racer.stderr.read()}"  # type: ignore[union-attr]
        for racer in racers:
            racer.stdin.write("go\n")  # type: ignore[union-attr]
            racer.stdin.flush()  # type: ignore[union-attr]
        outcomes = []
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0, err[-3000:]
            outcomes.append(next(line.split()[1] for line in out.splitlines() if line.startswith("outcome")))
        return outcomes
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()


def test_two_hosts_racing_to_promote_one_wins(database: str, tmp_path: Path) -> None:
    from retrain.registry import Registry

    # given two versions and no champion, in a registry on PostgreSQL
    versions = _two_versions(database, tmp_path / "setup", MODEL)
    # when two processes with separate folders promote them at the same moment
    outcomes = _race(database, tmp_path, MODEL, versions, "advisory")
    # then exactly one wins the compare-and-swap and the other is told the champion changed
    assert sorted(outcomes) == ["ok", "stale"]
    registry = Registry(database, MODEL, tmp_path / "check")
    winner = versions[outcomes.index("ok")]
    loser = versions[outcomes.index("stale")]
    assert registry.champion().version == winner
    assert registry._history() == [winner]
    assert "promoted_at" not in registry.get(loser).tags


def test_control_file_locks_alone_let_both_win(database: str, tmp_path: Path) -> None:
    # given the same race where each process has only its own file lock (two hosts, no shared lock)
    model = MODEL + "-control"
    versions = _two_versions(database, tmp_path / "setup", model)
    outcomes = _race(database, tmp_path, model, versions, "file-lock-only")
    # then neither is told the champion changed: both passed the check and wrote (both "won", or their
    # alias writes collided inside MLflow): the race the advisory lock closes is real
    assert len(outcomes) == 2
    assert "stale" not in outcomes, outcomes
