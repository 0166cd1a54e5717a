"""`retrain up`: the Airflow UI and the MLflow UI on this project, in the foreground, until Ctrl-C.

On the embedded default (SQLite, the project's AIRFLOW_HOME from `prepare_airflow_home`) it starts
the Airflow api-server, scheduler, dag-processor and triggerer (the executor of airflow.cfg, the
LocalExecutor by default) and an MLflow server on the project's MLflow store, on 127.0.0.1 with the
ports of RETRAIN_AIRFLOW_PORT and RETRAIN_MLFLOW_PORT. The commands are those of `retrain.ops.services`.

Login is required (the simple auth manager, never "all admins"): the admin password is generated at
every start, written to the auth manager's passwords file (readable by its owner only) and printed.
Ctrl-C or SIGTERM stops every process it started (each runs in its own process group) and exits 0.
"""

from __future__ import annotations

import secrets
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from rich.console import Console

from retrain.ops import services
from retrain.ops.environment import clean_environ, own_settings
from retrain.ops.supervisor import ProcessGroup, ServiceError, http_ok, port_in_use, wait_until, write_private
from retrain.settings import Settings

ADMIN_USER = "admin"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 300.0
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
LOCAL_STORES = ("sqlite:", "postgresql", "mysql", "mssql", "file:")


class _Stop(Exception):
    """Raised by the signal handler: Ctrl-C or SIGTERM."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serves_mlflow_store(settings: Settings) -> bool:
    """True when the MLflow store is a database or folder that `retrain up` serves itself.

    With MLFLOW_TRACKING_URI pointing at a tracking server, that server is the MLflow UI.
    """
    return settings.mlflow_tracking_uri.startswith(LOCAL_STORES) or "://" not in settings.mlflow_tracking_uri


def environment(settings: Settings, airflow_home: Path, password_file: Path) -> dict[str, str]:
    """The environment of every service: the caller's, plus what the components must share."""
    env = {**clean_environ(), **own_settings()}
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "RETRAIN_HOME": str(settings.home),
            # Tokens of the UI, the REST API and the tasks are signed and checked by different
            # processes: they must share the secret. A new one at every start.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{settings.airflow_port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": services.SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        }
    )
    return env


def _check_ports(settings: Settings) -> None:
    for port, name in ((settings.airflow_port, "RETRAIN_AIRFLOW_PORT"), (settings.mlflow_port, "RETRAIN_MLFLOW_PORT")):
        if port_in_use(port, HOST):
            raise ServiceError(f"port {port} on {HOST} is already in use; set {name} to a free port")


def main(settings: Settings, console: Console | None = None) -> int:
    """Start the UIs, wait for Ctrl-C or SIGTERM, stop everything. Returns the exit code."""
    from retrain.ops.home import prepare_airflow_home

    console = console or Console(soft_wrap=True)
    airflow_home = prepare_airflow_home(settings)
    log_dir = settings.home / "logs" / "up"
    group = ProcessGroup(log_dir)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _check_ports(settings)
        password = secrets.token_urlsafe(12)
        password_file = airflow_home / PASSWORDS_FILE
        write_private(password_file, services.passwords_json({ADMIN_USER: password}))
        env = environment(settings, airflow_home, password_file)
        console.print(f"[bold]retrain up[/bold]: Airflow home {airflow_home}; service logs in {log_dir}")

        if serves_mlflow_store(settings):
            settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
            mlflow_env = {
                **env,
                **services.MLFLOW_SERVER_ENV,
                services.MLFLOW_BACKEND_STORE_ENV: settings.mlflow_tracking_uri,
            }
            mlflow_argv = services.command(
                services.MLFLOW_SERVER,
                host=HOST,
                mlflow_port=settings.mlflow_port,
                mlflow_workers=1,
                artifacts_destination=settings.mlflow_artifact_root,
            )
            group.start("mlflow", mlflow_argv, mlflow_env)
            mlflow_url = f"http://{HOST}:{settings.mlflow_port}"
        else:
            mlflow_url = settings.mlflow_tracking_uri

        console.print("Migrating Airflow's metadata database…")
        group.run("airflow-db-migrate", services.AIRFLOW_DB_MIGRATE, env, timeout=STARTUP_TIMEOUT)
        airflow = services.AIRFLOW_SERVICES
        group.start(
            "api-server", services.command(airflow["api-server"], host=HOST, airflow_port=settings.airflow_port), env
        )
        for name in ("scheduler", "dag-processor", "triggerer"):
            group.start(name, airflow[name], env)

        airflow_url = f"http://{HOST}:{settings.airflow_port}"
        console.print("Starting the Airflow api-server, scheduler, dag-processor and triggerer…")
        wait_until("the Airflow api-server", http_ok(f"{airflow_url}/api/v2/monitor/health"), STARTUP_TIMEOUT, group)
        if serves_mlflow_store(settings):
            wait_until("the MLflow server", http_ok(f"{mlflow_url}/health"), STARTUP_TIMEOUT, group)
        console.print(
            "\n"
            f"  Airflow UI  [link]{airflow_url}[/link]   user [bold]{ADMIN_USER}[/bold]   "
            f"password [bold]{password}[/bold]\n"
            f"  MLflow UI   [link]{mlflow_url}[/link]\n\n"
            f"  The password is new at every start (also in {password_file}, readable by you only).\n"
            "  DAGs start paused: unpause them in the UI. Press Ctrl-C to stop.\n",
            highlight=False,
        )
        while True:
            group.check_alive()
            group.snapshot()
            time.sleep(1.0)
    except _Stop as stop:
        console.print(f"{stop.args[0]}: stopping every service…")
        return 0
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not interrupt the cleanup
            signal.signal(sig, signal.SIG_IGN)
        group.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("stopped.")


if __name__ == "__main__":
    from retrain.settings import SettingsError, load_settings

    try:
        loaded = load_settings()
    except SettingsError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    sys.exit(main(loaded))
