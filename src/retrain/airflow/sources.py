"""The sources only Airflow can open: `airflow://CONN_ID` (a Connection) and object storage (`ObjectStoragePath`).

The core (`retrain.data.sources`) knows folders and SQLAlchemy URLs and never imports Airflow; this
adapter turns the two other kinds of `RETRAIN_SOURCE` into core sources before the landing job runs:

- `airflow://CONN_ID`: the Connection (from the metadata DB, a secrets backend, or an
  `AIRFLOW_CONN_{CONN_ID}` variable) becomes a SQLAlchemy URL for a `SqlSource`; its password is
  registered with Airflow's secrets masker first, so it never shows in a task log.
- `s3://bucket/days`, `gs://...`, `file:///...`: read through Airflow's `ObjectStoragePath` (fsspec);
  a connection can be named in the URL as `s3://CONN_ID@bucket/days` (Airflow's convention). The
  day's files are downloaded into the landing's staging folder, then read as a folder day (CSV or Parquet).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.data.sources import FORMATS, FolderSource, Source, SourceDay, SqlSource
from retrain.errors import ConfigurationError
from retrain.layout import check_ds
from retrain.urls import AIRFLOW_CONN_PREFIX, source_kind

if TYPE_CHECKING:
    from retrain.settings import Settings

_DIALECTS = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
"""Airflow connection types whose SQLAlchemy dialect has another name (Airflow says `postgres`)."""


def connection_url(conn_id: str) -> str:
    """The SQLAlchemy URL of Airflow Connection `conn_id`, its password registered with the secrets masker.

    Raises:
        ConfigurationError: No such connection, or it is not a database.
    """
    from airflow.sdk import Connection
    from sqlalchemy.engine import URL

    from retrain.airflow.context import register_secret

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or a secrets backend that refused
        raise ConfigurationError(
            f"RETRAIN_SOURCE=airflow://{conn_id}: no Airflow connection {conn_id!r} ({type(exc).__name__}); "
            f"add it in the UI, with `airflow connections add`, or as AIRFLOW_CONN_{conn_id.upper()}"
        ) from None
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in _DIALECTS and "+" not in conn_type:
        raise ConfigurationError(
            f"RETRAIN_SOURCE=airflow://{conn_id}: the connection is of type {conn_type!r}, not a database "
            f"({', '.join(sorted(_DIALECTS))}); a SQLAlchemy URL in RETRAIN_SOURCE also works"
        )
    if conn.password:
        register_secret(conn.password)
    if conn_type == "sqlite":  # Airflow's SQLite connection keeps the database file in `host`
        return URL.create("sqlite", database=conn.host or conn.schema or None).render_as_string()
    extra = {k: str(v) for k, v in (conn.extra_dejson or {}).items() if isinstance(v, str | int | float | bool)}
    url = URL.create(
        _DIALECTS.get(conn_type, conn_type),
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
        query=extra,
    ).render_as_string(hide_password=False)
    register_secret(url)
    return url


@dataclass(frozen=True)
class ObjectStorageSource:
    """Days under an object-storage URL (`s3://bucket/days/{ds}/data.parquet`, `file:///srv/days/...`)."""

    url: str

    def describe(self) -> str:
        from retrain.secrets import mask_url

        return mask_url(self.url)

    def _root(self) -> Any:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(self.url)

    def fetch(self, ds: str, staging: Path) -> SourceDay:
        day = self._root() / check_ds(ds)
        if not day.exists():
            raise FileNotFoundError(
                f"source day {self.describe().rstrip('/')}/{ds}/ does not exist (yet): RETRAIN_SOURCE must hold one "
                "folder per day, YYYY-MM-DD/data.csv (or data.parquet) and target.csv (or target.parquet)"
            )
        local = staging / "download"
        (local / ds).mkdir(parents=True, exist_ok=True)
        for stem in ("data", "target"):
            for suffix in FORMATS:
                remote = day / f"{stem}{suffix}"
                if remote.is_file():
                    with remote.open("rb") as reader, open(local / ds / remote.name, "wb") as writer:
                        shutil.copyfileobj(reader, writer, 1 << 20)
        fetched = FolderSource(local).fetch(ds, staging / "converted")
        return SourceDay(ds, fetched.data, fetched.target, f"{self.describe().rstrip('/')}/{ds}")

    def day_files(self, ds: str, staging: Path) -> list[Path]:
        return FolderSource(staging / "download").day_files(ds, staging)


def source_for(settings: Settings) -> Source | None:
    """The source of `RETRAIN_SOURCE` for the landing job: None when the core opens it itself (or synthetic)."""
    kind = source_kind(settings.source)
    if kind == "airflow":
        conn_id = str(settings.source).removeprefix(AIRFLOW_CONN_PREFIX).strip("/")
        return SqlSource(connection_url(conn_id), str(settings.source_query), settings.label_column)
    if kind == "object_storage":
        return ObjectStorageSource(str(settings.source))
    return None
