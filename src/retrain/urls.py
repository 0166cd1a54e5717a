"""What a location setting names: the kind of `RETRAIN_SOURCE`, and a database URL SQLAlchemy can open.

`retrain.settings` checks the settings with these at start; the sources (`retrain.data.sources`,
`retrain.airflow.sources`) dispatch on `source_kind`. Standard library only at import (SQLAlchemy is
imported when a URL is checked), so reading the settings stays cheap.
"""

from __future__ import annotations

from typing import Literal

POSTGRES_URL_SCHEMES = ("postgresql://", "postgresql+", "postgres://")
"""How a PostgreSQL database URL starts (any SQLAlchemy driver): what `RETRAIN_LOCK_URL` accepts."""


AIRFLOW_CONN_PREFIX = "airflow://"
OBJECT_STORAGE_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "hdfs", "webhdfs")
"""URL schemes read through Airflow's ObjectStoragePath (fsspec), not as a database."""
SourceKind = Literal["synthetic", "folder", "database", "airflow", "object_storage"]


def source_kind(source: str | None) -> SourceKind:
    """What `RETRAIN_SOURCE` names: no source (synthetic), a folder, an Airflow connection, an object store
    (`s3://`, `file://`, ...: see OBJECT_STORAGE_SCHEMES) or a SQLAlchemy database URL (any other `scheme://`)."""
    if not source:
        return "synthetic"
    if source.startswith(AIRFLOW_CONN_PREFIX):
        return "airflow"
    scheme, sep, _ = source.partition("://")
    if not sep:
        return "folder"
    return "object_storage" if scheme.lower() in OBJECT_STORAGE_SCHEMES else "database"


def check_database_url(url: str) -> None:
    """Refuse what SQLAlchemy cannot parse, or a dialect it does not know; the message never quotes the URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        kind = "an unknown database dialect" if isinstance(exc, NoSuchModuleError) else "not a database URL"
        raise ValueError(
            f"{kind}: use a SQLAlchemy URL such as postgresql://user@host:5432/db or sqlite:////path/to.db"
        ) from None
