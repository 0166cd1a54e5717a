"""SQLAlchemy engines for the databases the user names (sources, the predictions sink, the promotion lock).

One rule lives here: a bare `postgresql://` (or Airflow's `postgres://`) means psycopg 3 to SQLAlchemy
2.1, and this project installs psycopg2 (as MLflow's server and Airflow use it), so the installed
driver is named explicitly. Engines use no pool: each use opens one connection and closes it.
"""

from __future__ import annotations

from typing import Any


def with_driver(url: str) -> str:
    """`url` with an installed PostgreSQL driver named (`postgresql+psycopg2://...`); other URLs unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        import importlib.util

        driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
        return f"postgresql+{driver}{sep}{rest}"
    return url


def engine(url: str) -> Any:
    """A SQLAlchemy engine on `url` without a connection pool (one connection per `connect()`, closed after).

    Raises:
        sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError: The URL or its dialect is unusable.
    """
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    return sqlalchemy.create_engine(with_driver(url), poolclass=NullPool)


_TRANSIENT = (
    "could not connect",
    "connection refused",
    "connection reset",
    "server closed",
    "terminating connection",
    "too many connections",
    "timeout",
    "timed out",
    "is locked",
    "deadlock",
    "could not serialize",
)
"""Fragments of database errors that mean "not now" rather than "never" (server down or busy, a lock,
a deadlock or a serialization failure): worth a retry. Anything else (bad SQL, a missing table or
column, refused credentials) fails the same way every time."""


def is_transient(message: str) -> bool:
    """Whether a database error's message says "try again later" (see `_TRANSIENT`)."""
    text = message.lower()
    return any(fragment in text for fragment in _TRANSIENT)
