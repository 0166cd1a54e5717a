"""Sinks: where a day's predictions go besides `predictions/{ds}/predictions.csv`.

`write_day_to_table` copies one day's `predictions.csv` into a database table (`RETRAIN_PREDICTIONS_URL`,
`RETRAIN_PREDICTIONS_TABLE`): columns `ds, row, prediction, probability, model_version` (+ one
`probability_<class>` per class when multiclass), primary key `(ds, row)`. The day's rows are replaced
in ONE transaction (delete the day, insert it), so a rerun never duplicates and a reader never sees
half a day; on PostgreSQL a transaction-scoped advisory lock per table and day keeps two writers of
the same day in line. The table is created when missing.

Errors: a URL SQLAlchemy cannot use, a table whose columns do not fit, a database that refuses the
credentials are `ConfigurationError` (fail at once); a database that does not answer, a deadlock or a
serialization failure is `TransientError` (the task's retries try again). No message quotes the password.
"""

from __future__ import annotations

import logging
import zlib
from datetime import date
from pathlib import Path
from typing import Any

from retrain.errors import ConfigurationError, TransientError

log = logging.getLogger(__name__)

INSERT_ROWS = 10_000
"""Rows per INSERT statement (SQLAlchemy's insertmanyvalues batches them further)."""

_CREDENTIALS = ("authentication failed", "permission denied", "no password supplied", 'database "')


def _sql_type(arrow_type: Any) -> Any:
    """The SQLAlchemy column type of one predictions column, from the type pyarrow read it as."""
    import pyarrow as pa
    import sqlalchemy as sa

    if pa.types.is_boolean(arrow_type):
        return sa.Boolean()
    if pa.types.is_integer(arrow_type):
        return sa.BigInteger()
    if pa.types.is_floating(arrow_type):
        return sa.Float(precision=53)
    return sa.Text()


def _table(name: str, schema_of: Any) -> Any:
    import sqlalchemy as sa

    schema, _, table = name.rpartition(".")
    columns = [sa.Column("ds", sa.Date(), nullable=False)]
    columns += [sa.Column(field.name, _sql_type(field.type)) for field in schema_of]
    return sa.Table(table, sa.MetaData(schema=schema or None), *columns, sa.PrimaryKeyConstraint("ds", "row"))


def _read_predictions(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"row": pa.int64(), "model_version": pa.string(), "probability": pa.float64()}
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def write_day_to_table(url: str, table_name: str, ds: str, predictions: Path) -> int:
    """Replace day `ds`'s rows of table `table_name` at `url` with `predictions` (a predictions.csv).

    Returns:
        The number of rows written.

    Raises:
        ConfigurationError: The URL, the credentials or the table cannot work (names the setting).
        TransientError: The database did not answer, or the transaction hit a deadlock; retry.
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    from retrain.database import engine as database_engine
    from retrain.database import is_transient
    from retrain.secrets import mask_url, redact, url_credentials

    frame = _read_predictions(predictions)
    day = date.fromisoformat(ds)
    where = f"{table_name} at {mask_url(url)}"
    try:
        engine = database_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise ConfigurationError(
            f"RETRAIN_PREDICTIONS_URL is not a usable database URL ({type(exc).__name__})"
        ) from None
    table = _table(table_name, frame.schema)
    try:
        with engine.begin() as connection:  # one transaction: readers see the old day or the new one
            table.metadata.create_all(connection, checkfirst=True)
            if connection.dialect.name == "postgresql":
                key = zlib.crc32(f"{table_name}/{ds}".encode()) - (1 << 31)
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            connection.execute(table.delete().where(table.c.ds == day))
            for batch in frame.to_batches(max_chunksize=INSERT_ROWS):
                rows = batch.to_pylist()
                for row in rows:
                    row["ds"] = day
                connection.execute(table.insert(), rows)
    except DBAPIError as exc:
        problem = redact(str(exc.orig or exc).strip().splitlines()[0], url_credentials(url))
        if isinstance(exc, OperationalError) and (exc.connection_invalidated or is_transient(problem)):
            raise TransientError(f"cannot write predictions to {where} now: {problem}") from None
        if any(fragment in problem.lower() for fragment in _CREDENTIALS):
            raise ConfigurationError(
                f"cannot write predictions to {where}: {problem}; check RETRAIN_PREDICTIONS_URL"
            ) from None
        raise ConfigurationError(
            f"cannot write predictions to {where}: {problem}; an existing table must have the columns "
            f"ds, {', '.join(frame.column_names)} (or set RETRAIN_PREDICTIONS_TABLE to a new table)"
        ) from None
    finally:
        engine.dispose()
    log.info("wrote %d prediction(s) of %s to %s", frame.num_rows, ds, where)
    return frame.num_rows
