"""The project's AIRFLOW_HOME: an airflow.cfg pointing at this project's DAGs, on SQLite by default.

Deliberately free of Airflow imports: Airflow reads its configuration when first imported, so the
environment and the config file must be in place before that happens.
"""

from __future__ import annotations

import os
from pathlib import Path

from retrain.settings import Settings

DAGS_FOLDER_ENV = "AIRFLOW__CORE__DAGS_FOLDER"


def project_dags_folder() -> Path:
    """The repository's dags/ folder (editable install), or the one AIRFLOW__CORE__DAGS_FOLDER names."""
    if os.environ.get(DAGS_FOLDER_ENV):
        return Path(os.environ[DAGS_FOLDER_ENV])
    candidate = Path(__file__).resolve().parents[3] / "dags"
    if not candidate.is_dir():
        raise RuntimeError(
            f"cannot find the DAGs folder (looked for {candidate}); set {DAGS_FOLDER_ENV} to the folder that "
            "holds generate_data_dag.py and retrain_dag.py"
        )
    return candidate


def airflow_cfg(airflow_home: Path, dags_folder: Path) -> str:
    """A minimal airflow.cfg: Airflow fills every other option with its defaults."""
    return f"""# Written by retrain for this project; edit freely, retrain only writes it when it is missing.
[core]
dags_folder = {dags_folder}
load_examples = False
executor = LocalExecutor
parallelism = 8
max_active_tasks_per_dag = 4

[database]
sql_alchemy_conn = sqlite:///{airflow_home}/airflow.db

[logging]
base_log_folder = {airflow_home}/logs

[dag_processor]
refresh_interval = 30
"""


def prepare_airflow_home(settings: Settings) -> Path:
    """Point Airflow at the project's home (unless AIRFLOW_HOME is already set) and write airflow.cfg.

    Must run before `airflow` is imported in this process.
    """
    home = Path(os.environ.get("AIRFLOW_HOME") or settings.airflow_home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    cfg = home / "airflow.cfg"
    if not cfg.exists():
        cfg.write_text(airflow_cfg(home, project_dags_folder()), encoding="utf-8")
    return home
