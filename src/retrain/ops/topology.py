"""The production topology as local processes, and the process supervision `retrain up` shares.

`LocalTopology` runs what `deploy/docker-compose.yml` runs, without Docker: Airflow with the
CeleryExecutor on PostgreSQL (metadata) and Redis (broker), an api-server, a scheduler, a
dag-processor, a triggerer, N Celery workers with distinct host names, and an MLflow tracking server
on a PostgreSQL backend store. The commands come from `retrain.ops.services`, as the compose file's do.
Everything it creates is fresh and removed when it stops: two PostgreSQL databases with unique
names, this run's keys in a Redis database, and every process it started.

`ProcessGroup` starts each program in its own process group and stops them all: SIGTERM to every
group, then SIGKILL to whatever is left, including descendants that left their group.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from retrain.ops import services

WORKER_HOSTNAME_ENV = "TOPOLOGY_WORKER_HOSTNAME"
"""Set per worker: the host name its task instances record (several workers share this machine)."""

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
_OWN_ENV_PREFIXES = ("AIRFLOW__", "RETRAIN_", "MLFLOW_")
_OWN_ENV_NAMES = (
    "AIRFLOW_HOME",
    "AIRFLOW_CONFIG",
    "TG_TOKEN",
    "TG_CHAT",
    "TG_API_URL",
    "METRIC_THRESHOLD",
    "MODEL_VERSION",
    WORKER_HOSTNAME_ENV,
)


class ServiceError(RuntimeError):
    """A service failed to start, died, or did not become ready in time; the message says which and why."""


class ServicesUnavailable(RuntimeError):
    """PostgreSQL or Redis does not answer: the topology cannot run on this machine."""


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for the local topology: the worker's own name, else the FQDN."""
    return os.environ.get(WORKER_HOSTNAME_ENV) or socket.getfqdn()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def executable(name: str) -> str:
    """The program `name` of the running environment (the .venv's bin/), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise ServiceError(f"cannot find the program {name!r} next to {sys.executable} or on PATH")
    return found


def clean_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without Airflow, MLflow or retrain settings: a child gets only the ones we give."""
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key.startswith(_OWN_ENV_PREFIXES) or key in _OWN_ENV_NAMES:
            del env[key]
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (a password file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


@dataclass
class _Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


class ProcessGroup:
    """Programs started in their own process groups, logged to files, stopped together.

    Args:
        log_dir: Each program's stdout and stderr go to `log_dir/<name>.log`.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: list[_Proc] = []
        self._seen: dict[int, Any] = {}  # pid -> psutil.Process of every process we ever saw in our trees
        self._groups: set[int] = set()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._procs]

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path | None = None) -> int:
        """Start `argv` in a new process group; returns its pid."""
        log_path = self.log_path(name)
        log = open(log_path, "ab")  # noqa: SIM115  (closed in stop())
        resolved = [executable(argv[0]), *argv[1:]]
        try:
            popen = subprocess.Popen(
                resolved,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        except OSError as exc:
            log.close()
            raise ServiceError(f"{name}: cannot start {argv[0]}: {exc}") from exc
        self._procs.append(_Proc(name, list(argv), popen, log_path, log))
        self._groups.add(popen.pid)
        self.snapshot()
        return popen.pid

    def run(self, name: str, argv: list[str], env: Mapping[str, str], timeout: float) -> None:
        """Run a one-shot command (e.g. a database migration) to completion, in its own group."""
        self.start(name, argv, env)
        proc = self._procs[-1]
        try:
            code = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
            raise ServiceError(f"{name} did not finish within {timeout:.0f}s; see {proc.log_path}") from None
        finally:
            self._procs.remove(proc)
            proc.log.close()
        if code != 0:
            raise ServiceError(f"{name} failed with exit code {code}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.log_path(name)
        if not path.exists():
            return "(no output)"
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(f"  {line}" for line in text[-lines:])

    def check_alive(self) -> None:
        """Raise ServiceError naming the first program that exited, with the end of its log."""
        for proc in self._procs:
            code = proc.popen.poll()
            if code is not None:
                raise ServiceError(
                    f"{proc.name} exited with code {code}; the end of {proc.log_path}:\n{self.tail(proc.name)}"
                )

    def snapshot(self) -> None:
        """Remember every live descendant: a process that leaves its group is still stopped."""
        import psutil

        for proc in self._procs:
            try:
                root = psutil.Process(proc.popen.pid)
                for p in [root, *root.children(recursive=True)]:
                    self._seen.setdefault(p.pid, p)
            except psutil.NoSuchProcess:
                continue

    def leftovers(self) -> list[Any]:
        """Processes we started (or their descendants) that are still alive."""
        import psutil

        alive = []
        for p in self._seen.values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        for pid in psutil.pids():
            with contextlib.suppress(psutil.Error, OSError):
                if pid not in self._seen and os.getpgid(pid) in self._groups:
                    alive.append(psutil.Process(pid))
        return alive

    @staticmethod
    def _kill_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every group (last started first), wait up to `timeout`, then SIGKILL what is left."""
        import psutil

        self.snapshot()
        for proc in reversed(self._procs):
            self._kill_group(proc.popen.pid, signal.SIGTERM)
        for p in self.leftovers():  # descendants that moved to a group of their own
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(p.pid) not in self._groups:
                    p.terminate()
        deadline = time.monotonic() + timeout
        for proc in reversed(self._procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Children that outlive their leader (pool processes, task supervisors) get the same time.
        _, still = psutil.wait_procs(self.leftovers(), timeout=max(0.1, deadline - time.monotonic()))
        for pgid in self._groups:
            self._kill_group(pgid, signal.SIGKILL)
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(self.leftovers(), timeout=5)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            proc.log.close()
        self._procs.clear()


def wait_until(
    what: str, ready: Callable[[], bool], timeout: float, group: ProcessGroup | None = None, every: float = 0.5
) -> None:
    """Poll `ready()` until it holds; fail with `what` after `timeout` seconds or as soon as a service dies."""
    deadline = time.monotonic() + timeout
    while True:
        if group is not None:
            group.check_alive()
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(every)


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: GET `url` answers 200 (no proxy: traffic stays on this machine)."""
    import httpx

    def probe() -> bool:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200

    return probe


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
        from retrain.airflow.home import airflow_cfg, project_dags_folder

        dags = project_dags_folder()
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        (self.airflow_home / "airflow.cfg").write_text(airflow_cfg(self.airflow_home, dags), encoding="utf-8")
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
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "retrain.ops.topology.worker_hostname",
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

        mlflow_env = {
            **clean_environ(),
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
                artifacts_destination=self.retrain_home / "mlartifacts",
            ),
            mlflow_env,
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
            worker_env = {
                **env,
                WORKER_HOSTNAME_ENV: name,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            argv = services.command(
                airflow["worker"], worker_concurrency=self.worker_concurrency, celery_hostname=f"{name}@%h"
            )
            group.start(name, argv, worker_env)

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
