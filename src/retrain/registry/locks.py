"""The lock around a promotion's compare-and-swap, chosen to hold wherever the writers run.

MLflow moves an alias last-writer-wins, so `Registry.promote` reads the champion, checks it and moves
it under a lock. Which lock depends on where the writers are:

| store | lock |
|---|---|
| `RETRAIN_LOCK_URL` set (a PostgreSQL URL) | a PostgreSQL advisory lock in that database |
| tracking URI `postgresql://…` (the backend store itself) | an advisory lock in that database |
| SQLite or file store (one host) | an exclusive `flock` on `{artifact_root}/.locks/{model}.lock` |

In the production topology the workers talk to an MLflow *server* over HTTP and cannot reach its
backend store through MLflow, so `RETRAIN_LOCK_URL` names a PostgreSQL database every worker can reach
(the server's backend store is a natural choice). An advisory lock is held by a database session: it
serialises promotions on any number of hosts, and the server releases it if the holder dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from retrain.database import engine as database_engine
from retrain.database import with_driver
from retrain.records.ledger import file_lock
from retrain.registry.refs import RegistryError
from retrain.urls import POSTGRES_URL_SCHEMES

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 300.0
"""How long a promotion waits for another one holding the lock before giving up (seconds)."""


def is_postgres_url(url: str | None) -> bool:
    """Whether `url` is a PostgreSQL database URL (any SQLAlchemy driver)."""
    return bool(url) and str(url).startswith(POSTGRES_URL_SCHEMES)


def lock_key(model_name: str) -> int:
    """The advisory lock's key for `model_name`: a signed 64-bit integer, the same on every host."""
    digest = hashlib.sha256(f"retrain.champion:{model_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_with_driver = with_driver  # the older private name


@contextlib.contextmanager
def advisory_lock(url: str, key: int, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold PostgreSQL's session-level advisory lock `key` in the database `url` for the block.

    Polls `pg_try_advisory_lock` (every 50 ms) rather than blocking in `pg_advisory_lock`, so that a
    stuck holder turns into an error after `timeout_s` instead of a hung task.

    Raises:
        RegistryError: When the lock is still held by another session after `timeout_s`.
        sqlalchemy.exc.OperationalError: When the database cannot be reached.
    """
    import sqlalchemy

    engine = database_engine(url)  # one session, closed with the block
    try:
        with engine.connect() as connection:
            deadline = time.monotonic() + timeout_s
            try_lock = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)")
            while not connection.execute(try_lock, {"key": key}).scalar():
                connection.rollback()  # do not hold a snapshot open while waiting
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"another promotion has held the registry lock (PostgreSQL advisory lock {key}) for "
                        f"{timeout_s:.0f} s; retry later, or look for a stuck process in pg_locks"
                    )
                time.sleep(0.05)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
    finally:
        engine.dispose()


def promotion_lock(
    model_name: str, lock_path: Path, lock_url: str | None, tracking_uri: str
) -> contextlib.AbstractContextManager[None]:
    """The lock that serialises alias moves of `model_name` (see the module docstring for the choice).

    Args:
        model_name: The registered model; each model has its own lock.
        lock_path: The file to `flock` when no database lock applies.
        lock_url: `RETRAIN_LOCK_URL`, or None.
        tracking_uri: The MLflow tracking URI (its database is used when it is PostgreSQL).

    Raises:
        RegistryError: When `lock_url` is set but is not a PostgreSQL URL.
    """
    if lock_url:
        if not is_postgres_url(lock_url):
            raise RegistryError(
                "RETRAIN_LOCK_URL must be a PostgreSQL URL such as postgresql://user@host:5432/mlflow "
                "(a database every worker can reach); unset it to use a file lock on one host"
            )
        return advisory_lock(lock_url, lock_key(model_name))
    if is_postgres_url(tracking_uri):
        return advisory_lock(tracking_uri, lock_key(model_name))
    if tracking_uri.startswith(("http://", "https://")):
        log.warning(
            "promotions are serialised on this host only (a file lock): with an MLflow server shared by "
            "several hosts, set RETRAIN_LOCK_URL to a PostgreSQL database they all reach"
        )
    return file_lock(lock_path)
