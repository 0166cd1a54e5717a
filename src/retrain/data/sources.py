"""Where the user's days come from: a folder (CSV or Parquet) or a database query, behind one interface.

A `Source` answers one question: for day `ds`, what are its features, and its labels if they have
arrived? It answers with CSV files (`SourceDay`) that landing (`retrain.jobs.land`) validates and
copies into raw/{ds}/data.csv and target.csv: raw/ keeps one format whatever the source, so every
reader downstream (split, drift, scoring) reads one thing. A source never forces a type on what it
reads: Parquet and SQL columns are written as the text of their own values (integers, floats,
strings, true/false, empty for missing), and the data stage decides what it accepts.

- `FolderSource`: `{root}/{ds}/data.csv` or `data.parquet`, and `target.csv` or `target.parquet`
  (labels may be absent: not arrived yet). Only plain files inside the folder are read
  (`retrain.data.load.unsafe_source_file`). CSV files are handed over as they are (landed byte for
  byte); Parquet files are converted to CSV in the staging folder.
- `SqlSource`: a SQLAlchemy URL and a query with a `:ds` parameter returning one day's rows; the label
  column (`RETRAIN_LABEL_COLUMN`) is split off; a day with any null label has no labels yet.
- Object storage (`s3://`, `file://`, through Airflow's `ObjectStoragePath`) and `airflow://CONN_ID`
  are resolved in the Airflow adapter layer (`retrain.airflow.sources`), which builds these sources.

Errors: a day that is not there yet is `FileNotFoundError` (worth waiting for); a day that is there
but unusable is `BadDataError` (quarantine it); a setting that cannot work is `ConfigurationError`;
a database that does not answer is `TransientError`. No message quotes a URL's password.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrain.data import TARGET
from retrain.data.errors import BadDataError
from retrain.errors import ConfigurationError, TransientError
from retrain.layout import check_ds

if TYPE_CHECKING:
    import pyarrow as pa

    from retrain.settings import Settings

log = logging.getLogger(__name__)

FORMATS = (".csv", ".parquet")
"""The file formats of a folder day, in the order they are looked for."""


@dataclass(frozen=True)
class SourceDay:
    """One day as its source delivered it: CSV files for landing to validate and copy.

    Attributes:
        ds: The day, YYYY-MM-DD.
        data: The features, a CSV file (in the source folder itself, or converted into the staging folder).
        target: The labels, a CSV file with one `target` column; None when they have not arrived yet.
        origin: Where the day came from, for logs (a URL with its password masked).
    """

    ds: str
    data: Path
    target: Path | None
    origin: str


class Source(Protocol):
    """A place the user's days come from (see the module docstring)."""

    def describe(self) -> str:
        """Where the days come from, safe to log (no password)."""
        ...

    def fetch(self, ds: str, staging: Path) -> SourceDay:
        """Day `ds`'s features and its labels (None if not arrived); converted files go to `staging`.

        Raises:
            FileNotFoundError: The day has not arrived (yet).
            BadDataError: The day is there but unusable.
            ConfigurationError: The source's settings cannot work (e.g. no such label column).
            TransientError: The source did not answer.
        """
        ...

    def day_files(self, ds: str, staging: Path) -> list[Path]:
        """The day's files worth keeping in quarantine/ when it is bad: plain files only, never links."""
        ...


def source_from_settings(settings: Settings) -> Source:
    """The source `RETRAIN_SOURCE` names, for the kinds the core can open (a folder, a database URL).

    Raises:
        ConfigurationError: The source is `airflow://` or object storage (resolved by the Airflow adapter
            layer, `retrain.airflow.sources`), or unset (the synthetic stream has no source).
    """
    from retrain.urls import source_kind

    kind = source_kind(settings.source)
    if kind == "folder":
        return FolderSource(Path(str(settings.source)))
    if kind == "database":
        return SqlSource(str(settings.source), str(settings.source_query), settings.label_column)
    raise ConfigurationError(
        f"RETRAIN_SOURCE of kind {kind!r} is opened by the Airflow adapter layer (retrain.airflow.sources), "
        "not by the core: land it through the generate_data DAG"
    )


def write_arrow_csv(table: pa.Table, dest: Path) -> Path:
    """Write an Arrow table as a CSV landing reads: unquoted header, values as the text of their type.

    Strings are quoted (they may hold commas), missing values are empty cells, floats are the shortest
    text that reads back to the same number, booleans `true`/`false`. Deterministic bytes, atomic.

    Raises:
        BadDataError: A column name holds a comma, a quote or a newline (it cannot be a CSV header).
    """
    import pyarrow.csv as pacsv

    from retrain.io import atomic_path

    names = [str(n) for n in table.column_names]
    bad = [n for n in names if not n or any(ch in n for ch in ',"\n\r')]
    if bad:
        raise BadDataError.at(dest, f"column name(s) {bad[:5]} cannot be a CSV header", fix="rename these columns")
    with atomic_path(Path(dest)) as tmp, open(tmp, "wb") as handle:
        handle.write((",".join(names) + "\n").encode("utf-8"))
        if table.num_rows:
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return Path(dest)


@dataclass(frozen=True)
class FolderSource:
    """Days in a folder: `{root}/{ds}/data.csv|data.parquet` and `target.csv|target.parquet`."""

    root: Path

    def describe(self) -> str:
        return str(self.root)

    def _pick(self, day: Path, stem: str) -> Path | None:
        """The day's `stem` file in one of FORMATS; both formats at once is ambiguous, hence bad data."""
        from retrain.data.load import refuse_unsafe

        found = []
        for suffix in FORMATS:
            path = day / f"{stem}{suffix}"
            refuse_unsafe(self.root, path)
            if path.is_file():
                found.append(path)
        if len(found) > 1:
            raise BadDataError.at(
                found[0],
                f"the day holds both {found[0].name} and {found[1].name}",
                fix=f"deliver {stem} in one format per day",
            )
        return found[0] if found else None

    def fetch(self, ds: str, staging: Path) -> SourceDay:
        from retrain.data.load import LAYOUT_HINT, refuse_unsafe

        day = self.root / check_ds(ds)
        refuse_unsafe(self.root, day)
        if not day.is_dir():
            raise FileNotFoundError(f"source day folder {day} does not exist. " + LAYOUT_HINT.format(source=self.root))
        data = self._pick(day, "data")
        target = self._pick(day, "target")
        if data is None:
            raise BadDataError.at(
                day / "data.csv",
                f"the day folder {day} exists but has no data.csv or data.parquet",
                fix="deliver the features (data.csv or data.parquet) first, or with the labels",
            )
        return SourceDay(ds, self._as_csv(data, staging), self._as_csv(target, staging) if target else None, str(day))

    def day_files(self, ds: str, staging: Path) -> list[Path]:
        from retrain.data.load import unsafe_source_file

        day = self.root / check_ds(ds)
        if unsafe_source_file(self.root, day) is not None:
            return []
        names = [f"{stem}{suffix}" for stem in ("data", "target") for suffix in FORMATS]
        return [p for p in (day / n for n in names) if unsafe_source_file(self.root, p) is None and p.is_file()]

    @staticmethod
    def _as_csv(path: Path, staging: Path) -> Path:
        """A CSV file is used as it is (landed byte for byte); a Parquet file is converted into `staging`."""
        if path.suffix == ".csv":
            return path
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise BadDataError.at(
                path, f"cannot be read as Parquet ({type(exc).__name__})", fix="write the file with a Parquet writer"
            ) from None
        staging.mkdir(parents=True, exist_ok=True)
        return write_arrow_csv(table, staging / f"{path.stem}.csv")


@dataclass(frozen=True)
class SqlSource:
    """Days from a database: `query` (with a `:ds` parameter) returns one day's rows, labels in `label_column`.

    The query's column order is the features' order (the label column removed); its row order is the
    rows' order (write an ORDER BY: predictions refer to rows by position). `:ds` is bound as the text
    `YYYY-MM-DD` (PostgreSQL compares it with a date column; elsewhere `CAST(:ds AS DATE)`).
    """

    url: str
    query: str
    label_column: str = TARGET

    def describe(self) -> str:
        from retrain.secrets import mask_url

        return mask_url(self.url)

    def fetch(self, ds: str, staging: Path) -> SourceDay:
        import pyarrow as pa

        names, rows = self._query(check_ds(ds))
        if not rows:
            raise FileNotFoundError(
                f"RETRAIN_SOURCE_QUERY returned no rows for {ds} from {self.describe()}: the day has not arrived (yet)"
            )
        if self.label_column not in names:
            raise ConfigurationError(
                f"RETRAIN_LABEL_COLUMN {self.label_column!r} is not a column of RETRAIN_SOURCE_QUERY's result "
                f"(it has {names[:12]}); name the label column, or select it in the query"
            )
        columns = {name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)}
        labels = columns.pop(self.label_column)
        staging.mkdir(parents=True, exist_ok=True)
        data = write_arrow_csv(pa.table(columns), staging / "data.csv")
        target = None
        if labels.null_count == 0:
            target = write_arrow_csv(pa.table({TARGET: labels}), staging / "target.csv")
        else:
            log.info(
                "%s: %d of %d row(s) have no label yet: the day lands without labels",
                ds,
                labels.null_count,
                len(labels),
            )
        return SourceDay(ds, data, target, self.describe())

    def day_files(self, ds: str, staging: Path) -> list[Path]:
        return [p for p in (staging / "data.csv", staging / "target.csv") if p.is_file()]

    def _query(self, ds: str) -> tuple[list[str], list[tuple]]:
        """Run the query for `ds` on a fresh connection: (column names, rows)."""
        from sqlalchemy import text
        from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

        from retrain.database import engine as database_engine
        from retrain.database import is_transient
        from retrain.secrets import redact, url_credentials

        try:
            engine = database_engine(self.url)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise ConfigurationError(f"RETRAIN_SOURCE is not a usable database URL ({type(exc).__name__})") from None
        secrets = url_credentials(self.url)
        try:
            with engine.connect() as connection:
                result = connection.execute(text(self.query), {"ds": ds})
                return list(result.keys()), [tuple(row) for row in result.fetchall()]
        except OperationalError as exc:
            problem = redact(str(exc.orig or exc).strip().splitlines()[0], secrets)
            if exc.connection_invalidated or is_transient(problem):
                raise TransientError(f"the source database {self.describe()} did not answer: {problem}") from None
            raise ConfigurationError(
                f"RETRAIN_SOURCE_QUERY failed on {self.describe()}: {problem}; check the query and RETRAIN_SOURCE"
            ) from None
        except DBAPIError as exc:
            problem = redact(str(exc.orig or exc).strip().splitlines()[0], secrets)
            raise ConfigurationError(
                f"RETRAIN_SOURCE_QUERY failed on {self.describe()}: {problem}; check the query and RETRAIN_SOURCE"
            ) from None
        finally:
            engine.dispose()
