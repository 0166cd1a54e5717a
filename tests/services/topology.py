"""The production topology as local processes: the harness of `make test-services`.

`LocalTopology` runs what `deploy/docker-compose.yml` runs, without Docker: Airflow with the
CeleryExecutor on PostgreSQL (metadata) and Redis (broker), an api-server, a scheduler, a
dag-processor, a triggerer, N Celery workers with distinct host names, and an MLflow tracking server
on a PostgreSQL backend store that serves the model artifacts (`mlflow-artifacts:`) from a folder of
its own. The commands come from `retrain.ops.services`, as the compose file's do; the processes are
supervised by `retrain.ops.supervisor`, as `retrain up`'s are.

Only the tests use it, so it lives here and not in the package. Everything it creates is fresh and
removed when it stops: two PostgreSQL databases with unique names, this run's keys in a Redis
database, and every process it started.

Like separate hosts, the components share nothing but the network and RETRAIN_HOME's data folder
(the `retrain-data` volume of the compose file): each worker runs in a folder of its own (its cwd and
HOME), and the MLflow server's artifact store is a folder no Airflow component is told about.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.ops import environment, services
from retrain.ops.supervisor import ProcessGroup, ServiceError, free_port, http_ok, wait_until, write_private

REPO = Path(__file__).resolve().parents[2]
WORKER_HOSTNAME_ENV = "TOPOLOGY_WORKER_HOSTNAME"
"""Set per worker: the host name its task instances record (several workers share this machine)."""

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


class ServicesUnavailable(RuntimeError):
    """PostgreSQL or Redis does not answer: the topology cannot run on this machine."""


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for the local topology: the worker's own name, else the FQDN."""
    return os.environ.get(WORKER_HOSTNAME_ENV) or socket.getfqdn()


def clean_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`retrain.ops.environment.clean_environ`, without a worker host name of an enclosing topology."""
    env = environment.clean_environ(base)
    env.pop(WORKER_HOSTNAME_ENV, None)
    return env


def log_contains(group: ProcessGroup, name: str, pattern: str) -> Callable[[], bool]:
    regex = re.compile(pattern)

    def probe() -> bool:
        path = group.log_path(name)
        return path.exists() and bool(regex.search(path.read_text(encoding="utf-8", errors="replace")))

    return probe


# -- PostgreSQL and Redis ---------------------------------------------------------------------------


def _with_database(dsn: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def sqlalchemy_url(dsn: str, database: str) -> str:
    """A SQLAlchemy URL with the driver spelled out (psycopg2: SQLAlchemy 2.1 would pick psycopg 3)."""
    url = _with_database(dsn, database)
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)


def probe_services(pg_dsn: str = DEFAULT_PG_DSN, redis_url: str = DEFAULT_REDIS_URL) -> str | None:
    """None when PostgreSQL and Redis answer, else why not (for a skip message)."""
    try:
        import psycopg2

        psycopg2.connect(pg_dsn, connect_timeout=3).close()
    except Exception as exc:  # any failure means: not available
        return f"PostgreSQL does not answer at {pg_dsn}: {str(exc).strip().splitlines()[0]}"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis does not answer at {redis_url}: {exc}"
    return None


def _pg_execute(dsn: str, statement: Any) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_database(pg_dsn: str, name: str) -> str:
    """Create a database; returns its DSN."""
    from psycopg2 import sql

    _pg_execute(pg_dsn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(pg_dsn, name)


def drop_database(pg_dsn: str, name: str) -> None:
    from psycopg2 import sql

    _pg_execute(pg_dsn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(pg_dsn: str, name: str) -> bool:
    import psycopg2

    conn = psycopg2.connect(pg_dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _redis(redis_url: str, db: int) -> Any:
    import redis

    return redis.Redis.from_url(f"{redis_url.rstrip('/')}/{db}", socket_timeout=5)


def pick_redis_db(redis_url: str) -> int:
    """An empty Redis database (1-15) if there is one, so this run's keys are easy to remove."""
    for db in secrets.SystemRandom().sample(range(1, 16), 15):
        if _redis(redis_url, db).dbsize() == 0:
            return db
    return 1 + secrets.randbelow(15)


def redis_keys_with(redis_url: str, db: int, token: str) -> list[str]:
    """Keys of a Redis database whose name holds `token`, and binding sets that still name it."""
    client = _redis(redis_url, db)
    found = [k.decode() for k in client.scan_iter(match=f"*{token}*")]
    for key in client.scan_iter(match="_kombu.binding.*"):
        if client.type(key) == b"set" and any(token.encode() in m for m in client.smembers(key)):
            found.append(key.decode())
    return found


def remove_redis_keys(redis_url: str, db: int, token: str) -> None:
    """Delete this run's Redis keys and its members of kombu's shared binding sets; when nothing but
    kombu's bookkeeping is left (no other run uses the database), that goes too."""
    client = _redis(redis_url, db)
    for key in client.scan_iter(match=f"*{token}*"):
        client.delete(key)
    for key in client.scan_iter(match="_kombu.binding.*"):
        if client.type(key) == b"set":
            members = [m for m in client.smembers(key) if token.encode() in m]
            if members:
                client.srem(key, *members)
    left = list(client.scan_iter())
    in_use = [k for k in left if not k.startswith(b"_kombu.")] + [
        k for k in left if k.startswith(b"_kombu.binding.") and client.type(k) == b"set" and client.scard(k)
    ]
    if left and not in_use:
        client.delete(*left)


def async_conn(sync_conn: str, scratch: Path) -> str:
    """Airflow's async metadata connection: asyncpg for PostgreSQL.

    Airflow 3 opens an async engine next to the sync one (used by a few API endpoints: waiting on a
    DAG run, the task state store, multi-team). Without asyncpg installed it cannot start on
    PostgreSQL at all; then this falls back to an unused SQLite file, so that everything else runs,
    and says so.
    """
    import importlib.util
    import warnings

    if importlib.util.find_spec("asyncpg") is not None:
        return sync_conn.replace("postgresql+psycopg2://", "postgresql+asyncpg://", 1)
    warnings.warn(
        "asyncpg is not installed: Airflow's async metadata engine falls back to an unused SQLite file "
        "(the few async API endpoints will not see the PostgreSQL data); add asyncpg to the project",
        RuntimeWarning,
        stacklevel=2,
    )
    return f"sqlite+aiosqlite:///{scratch / 'airflow-async-unused.db'}"


# -- the topology --------------------------------------------------------------------------------------


@dataclass
class LocalTopology:
    """The CeleryExecutor topology of deploy/docker-compose.yml as processes on this machine.

    Args:
        root: An empty folder for this run: Airflow home, retrain home, logs.
        retrain_env: Extra settings for the tasks (RETRAIN_*), e.g. a small RETRAIN_ROWS_PER_DAY.
        workers: How many Celery workers (each with its own host name).
        worker_concurrency: Task slots per worker.
        schedules: False: the scheduler runs only triggered DAG runs (no cron intervals).
        pg_dsn: A PostgreSQL superuser DSN; the databases are created next to its database.
        redis_url: The Redis server (without a database number).
    """

    root: Path
    retrain_env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    worker_concurrency: int = 2
    schedules: bool = False
    pg_dsn: str = DEFAULT_PG_DSN
    redis_url: str = DEFAULT_REDIS_URL
    admin_user: str = "admin"
    startup_timeout: float = 180.0

    token: str = field(default_factory=lambda: secrets.token_hex(4), init=False)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16), init=False, repr=False)
    airflow_port: int = field(default=0, init=False)
    mlflow_port: int = field(default=0, init=False)
    redis_db: int = field(default=0, init=False)
    group: ProcessGroup | None = field(default=None, init=False, repr=False)
    _created_dbs: list[str] = field(default_factory=list, init=False, repr=False)

    # -- names and places ---------------------------------------------------------------------------

    @property
    def airflow_db(self) -> str:
        return f"retrain_{self.token}_airflow"

    @property
    def mlflow_db(self) -> str:
        return f"retrain_{self.token}_mlflow"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def retrain_home(self) -> Path:
        return self.root / "retrain"

    @property
    def mlflow_artifacts(self) -> Path:
        """The MLflow server's artifact store (`--artifacts-destination`): only the server knows this folder."""
        return self.root / "mlflow-server" / "artifacts"

    def worker_dir(self, index: int) -> Path:
        """A worker's own folder (its cwd and HOME): what a separate host would have."""
        return self.root / "hosts" / self.worker_name(index)

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def queue(self) -> str:
        """This run's Celery queue: another run on the same Redis never takes our tasks."""
        return f"retrain-{self.token}"

    def worker_name(self, index: int) -> str:
        return f"worker{index + 1}-{self.token}"

    # -- environment --------------------------------------------------------------------------------

    def _airflow_env(self) -> dict[str, str]:
        from retrain.ops.home import airflow_cfg, project_dags_folder

        dags = project_dags_folder()
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        (self.airflow_home / "airflow.cfg").write_text(airflow_cfg(dags), encoding="utf-8")
        passwords = self.airflow_home / "simple_auth_manager_passwords.json"
        write_private(passwords, services.passwords_json({self.admin_user: self.password}))
        sync_conn = sqlalchemy_url(self.pg_dsn, self.airflow_db)
        from cryptography.fernet import Fernet

        env = clean_environ()
        env.update(
            services.airflow_env(
                sql_alchemy_conn=sync_conn,
                broker_url=f"{self.redis_url.rstrip('/')}/{self.redis_db}",
                result_backend="db+" + sync_conn,
                api_url=self.airflow_url,
                jwt_secret=secrets.token_urlsafe(32),
                api_secret_key=secrets.token_urlsafe(32),
                fernet_key=Fernet.generate_key().decode(),
                admin_user=self.admin_user,
                passwords_file=str(passwords),
                dags_folder=str(dags),
            )
        )
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_conn(sync_conn, self.airflow_home),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                # `tests.services.topology.worker_hostname`, importable from the repository's root
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.{worker_hostname.__name__}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.schedules),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "RETRAIN_HOME": str(self.retrain_home),
                "MLFLOW_TRACKING_URI": self.mlflow_url,
                "RETRAIN_LOCK_URL": sqlalchemy_url(self.pg_dsn, self.mlflow_db),  # promotions lock across hosts
                **self.retrain_env,
            }
        )
        return env

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LocalTopology:
        """Create the databases and start every service; returns when all of them answer."""
        reason = probe_services(self.pg_dsn, self.redis_url)
        if reason:
            raise ServicesUnavailable(reason)
        self.root.mkdir(parents=True, exist_ok=True)
        self.retrain_home.mkdir(parents=True, exist_ok=True)
        self.airflow_port, self.mlflow_port = free_port(), free_port()
        self.redis_db = pick_redis_db(self.redis_url)
        self.group = group = ProcessGroup(self.log_dir)
        for name in (self.airflow_db, self.mlflow_db):
            create_database(self.pg_dsn, name)
            self._created_dbs.append(name)
        env = self._airflow_env()

        self.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
        mlflow_env = {
            **clean_environ(),
            "HOME": str(self.mlflow_artifacts.parent),
            **services.MLFLOW_SERVER_ENV,
            services.MLFLOW_BACKEND_STORE_ENV: sqlalchemy_url(self.pg_dsn, self.mlflow_db),
        }
        group.start(
            "mlflow",
            services.command(
                services.MLFLOW_SERVER,
                host="127.0.0.1",
                mlflow_port=self.mlflow_port,
                mlflow_workers=1,
                artifacts_destination=self.mlflow_artifacts,
            ),
            mlflow_env,
            cwd=self.mlflow_artifacts.parent,
        )
        group.run("airflow-db-migrate", services.AIRFLOW_DB_MIGRATE, env, timeout=self.startup_timeout)
        airflow = services.AIRFLOW_SERVICES
        group.start(
            "api-server", services.command(airflow["api-server"], host="127.0.0.1", airflow_port=self.airflow_port), env
        )
        group.start("scheduler", airflow["scheduler"], env)
        group.start("dag-processor", airflow["dag-processor"], env)
        group.start("triggerer", airflow["triggerer"], env)
        for index in range(self.workers):
            name = self.worker_name(index)
            host_dir = self.worker_dir(index)
            host_dir.mkdir(parents=True, exist_ok=True)
            worker_env = {
                **env,
                "HOME": str(host_dir),
                WORKER_HOSTNAME_ENV: name,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            argv = services.command(
                airflow["worker"], worker_concurrency=self.worker_concurrency, celery_hostname=f"{name}@%h"
            )
            group.start(name, argv, worker_env, cwd=host_dir)

        wait_until("the MLflow server", http_ok(f"{self.mlflow_url}/health"), self.startup_timeout, group)
        wait_until(
            "the Airflow api-server", http_ok(f"{self.airflow_url}/api/v2/monitor/health"), self.startup_timeout, group
        )
        for index in range(self.workers):
            name = self.worker_name(index)
            wait_until(f"Celery worker {name}", log_contains(group, name, r"@\S+ ready\."), self.startup_timeout, group)
        group.snapshot()
        return self

    def stop(self) -> None:
        """Stop every process, drop the databases, remove this run's Redis keys. Safe to call twice."""
        try:
            if self.group is not None:
                self.group.stop()
        finally:
            errors = []
            for name in list(self._created_dbs):
                try:
                    drop_database(self.pg_dsn, name)
                    self._created_dbs.remove(name)
                except Exception as exc:  # report every failure, try every database
                    errors.append(f"drop database {name}: {exc}")
            if self.redis_db:
                with contextlib.suppress(Exception):
                    remove_redis_keys(self.redis_url, self.redis_db, self.token)
            if errors:
                raise ServiceError("; ".join(errors))

    def __enter__(self) -> LocalTopology:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self) -> Iterator[tuple[str, Path]]:
        for path in sorted(self.log_dir.glob("*.log")):
            yield path.stem, path
