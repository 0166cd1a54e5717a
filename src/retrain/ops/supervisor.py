"""Process supervision for `retrain up` (and the local topology of the services tests).

`ProcessGroup` starts each program in its own process group with its output in a log file, and stops
them all: SIGTERM to every group, then SIGKILL to whatever is left, including descendants that left
their group. `wait_until` polls a readiness probe and fails as soon as a supervised program dies.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


class ServiceError(RuntimeError):
    """A service failed to start, died, or did not become ready in time; the message says which and why."""


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (Linux default 32768-60999)."""
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside the kernel's ephemeral range.

    A port from `bind(("127.0.0.1", 0))` is in the ephemeral range, the same range the kernel draws
    from for every outgoing connection: a service that binds it seconds later (Airflow's API server
    after its start-up) found it taken by a client's connection to PostgreSQL. Ports below (or above)
    that range are never handed out implicitly, so only another listener can take them.
    """
    low, high = _ephemeral_range()
    candidates = range(10_000, low) if low > 11_000 else range(high + 1, 65_536)
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.choice(candidates)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceError(f"found no free TCP port on 127.0.0.1 in {candidates.start}-{candidates.stop - 1}")


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
