"""The project's homes, prepared at every start: AIRFLOW_HOME's airflow.cfg, and a RETRAIN_HOME that
was moved or copied made whole again.

Free of Airflow imports on purpose: Airflow reads its configuration when first imported, so the
environment and the config file must be in place before that happens (this is process setup, run by
`retrain run`, `retrain demo`, `retrain up` and every other `retrain` command).

A RETRAIN_HOME must keep working after `mv` or `cp -a` and never write outside itself:
- airflow.cfg holds no path inside the home: Airflow derives its metadata database
  (`sqlite:///$AIRFLOW_HOME/airflow.db`) and its log folder (`$AIRFLOW_HOME/logs`) from AIRFLOW_HOME
  at each start, and AIRFLOW_HOME is derived from RETRAIN_HOME.
- MLflow stores every artifact location as an absolute URI in its database and resolves a relative
  one against the current folder (`mlflow.utils.uri.resolve_uri_if_local`), so a relative location
  is not possible. Instead, the store in the home is rebased at each start: stored locations under
  the artifact root it was created with are rewritten to the home's own `mlartifacts/`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

from retrain.settings import Settings

log = logging.getLogger(__name__)

DAGS_FOLDER_ENV = "AIRFLOW__CORE__DAGS_FOLDER"
CFG_HEADER = "# Written by retrain for this project"
# What earlier versions of airflow.cfg baked in (absolute paths written once): removed at start so
# that Airflow derives them from AIRFLOW_HOME. Only these exact shapes, only in retrain's own file.
_BAKED_LINES = re.compile(
    r"^(sql_alchemy_conn = sqlite:///(?P<db>.+)/airflow\.db|base_log_folder = (?P<logs>.+)/logs)\n", re.MULTILINE
)


def project_dags_folder() -> Path:
    """The repository's dags/ folder (editable install), or the one AIRFLOW__CORE__DAGS_FOLDER names.

    Raises:
        RuntimeError: Neither exists; the message says which variable to set.
    """
    if os.environ.get(DAGS_FOLDER_ENV):
        return Path(os.environ[DAGS_FOLDER_ENV])
    candidate = Path(__file__).resolve().parents[3] / "dags"
    if not candidate.is_dir():
        raise RuntimeError(
            f"cannot find the DAGs folder (looked for {candidate}); set {DAGS_FOLDER_ENV} to the folder that "
            "holds generate_data_dag.py and retrain_dag.py"
        )
    return candidate


def airflow_cfg(dags_folder: Path) -> str:
    """A minimal airflow.cfg: Airflow fills every other option with its defaults, the metadata database
    and the log folder with paths under AIRFLOW_HOME (so none is written here)."""
    return f"""{CFG_HEADER}; edit freely, retrain only writes it when it is missing.
# The metadata database and the logs live under AIRFLOW_HOME (Airflow's defaults), so the home can move.
[core]
dags_folder = {dags_folder}
load_examples = False
executor = LocalExecutor
parallelism = 8
max_active_tasks_per_dag = 4

[dag_processor]
refresh_interval = 30
"""


def prepare_airflow_home(settings: Settings) -> Path:
    """Point Airflow at the project's home (unless AIRFLOW_HOME is already set), write airflow.cfg when
    it is missing, and make a moved or copied home whole (`relocate`). Returns AIRFLOW_HOME.

    Must run before `airflow` is imported in this process.
    """
    home = Path(os.environ.get("AIRFLOW_HOME") or settings.airflow_home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    cfg = home / "airflow.cfg"
    if not cfg.exists():
        cfg.write_text(airflow_cfg(project_dags_folder()), encoding="utf-8")
    relocate(settings)
    return home


def relocate(settings: Settings) -> list[str]:
    """Make a RETRAIN_HOME that was moved or copied use its own files only; returns what changed (logged).

    Cheap and idempotent: nothing is written when the home is where its files say it is. Safe when
    several processes start at once (each rewrite is one transaction that a second run finds done).
    """
    changes = _unbake_airflow_cfg(settings.airflow_home / "airflow.cfg")
    changes += rebase_mlflow_store(settings)
    for change in changes:
        log.warning("RETRAIN_HOME %s was moved or copied: %s", settings.home, change)
    return changes


def _unbake_airflow_cfg(cfg: Path) -> list[str]:
    """Remove the absolute database and log paths that earlier versions wrote into retrain's airflow.cfg."""
    if not cfg.is_file():
        return []
    text = cfg.read_text(encoding="utf-8")
    if not text.startswith(CFG_HEADER) or not _BAKED_LINES.search(text):
        return []
    cfg.write_text(_BAKED_LINES.sub("", text), encoding="utf-8")
    return [f"{cfg}: the metadata database and log paths now follow AIRFLOW_HOME"]


def _local_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(uri) if not parts.scheme and uri.startswith("/") else None


def _same_place(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def rebase_mlflow_store(settings: Settings) -> list[str]:
    """Rewrite the artifact URIs of the home's own MLflow store (the default SQLite file) that point under
    the artifact root of another place (where the home was created) to this home's `mlartifacts/`.

    Every text value that starts with the old root (as a `file://` URI or a plain path) is rewritten:
    experiment artifact locations (where NEW runs write), run artifact URIs, logged models and model
    version storage locations (where the champion is loaded from). A store named by
    MLFLOW_TRACKING_URI is not the home's and is left alone.
    """
    db = settings.home / "mlflow.db"
    if settings.mlflow_tracking_uri_override or not db.is_file():
        return []
    root = settings.mlflow_artifact_root
    changes = []
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as conn, conn:
        try:
            locations = [row[0] for row in conn.execute("SELECT artifact_location FROM experiments")]
        except sqlite3.OperationalError:  # not an MLflow store yet
            return []
        old_roots = set()
        for location in locations:
            path = _local_path(location or "")
            if path is not None and path.parent.name == root.name and path.parent != root:
                old_roots.add(path.parent)
        for old in sorted(old_roots):
            if _same_place(old, root):  # the same folder under another spelling (a symlink)
                continue
            count = 0
            for before, after in ((old.as_uri() + "/", root.as_uri() + "/"), (f"{old}/", f"{root}/")):
                count += _replace_prefix(conn, before, after)
            changes.append(f"{db}: {count} stored artifact location(s) moved from {old} to {root}")
    return changes


def _replace_prefix(conn: sqlite3.Connection, before: str, after: str) -> int:
    """Replace the prefix `before` by `after` in every text column of every table; returns the rows changed."""
    count = 0
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        columns = [row[1] for row in info if "CHAR" in row[2].upper() or row[2].upper() == "TEXT"]
        for column in columns:
            cursor = conn.execute(
                f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '  # noqa: S608 (names from the schema)
                f'WHERE substr("{column}", 1, ?) = ?',
                (after, len(before) + 1, len(before), before),
            )
            count += cursor.rowcount
    return count
