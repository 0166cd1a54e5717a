"""Stop promptly on SIGTERM or SIGINT, even inside code that replaces the signal handlers.

Airflow's task runner installs its own SIGTERM handler while a task runs, and it only calls the
operator's `on_kill()`: a real worker's supervisor then kills the task process, but a run inside this
process (`dag.test()`, what `retrain run` does) would simply go on (the whole DAG run, 40 s and more,
even a deploy). `stop_on_signals()` does not depend on which Python handler is installed: the C-level
handler of every handled signal writes the signal number to a wakeup file descriptor
(`signal.set_wakeup_fd`), which a watcher thread reads. It then raises `Stopped` in the main thread
(`PyThreadState_SetAsyncExc`, at the next bytecode), again every `every` seconds until the block is
left: a task runner catches every exception of its task, so a raise that lands inside a task fails
that task only, and one of the next lands in the runner's own code between tasks (frequent raises
make that quick: measured under 0.3 s for `retrain run`). Should the block not be left within
`grace` seconds (a long call into C), `on_timeout` runs and the process exits with 128 + the signal.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

HANDLED = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):  # noqa: N818  (a request, like KeyboardInterrupt, not an error)
    """This process was asked to stop (SIGTERM, SIGINT). A BaseException: `except Exception` lets it through.

    Attributes:
        signum: The signal that asked, or 0 when raised by the watcher (it is re-raised with the number).
    """

    def __init__(self, signum: int = 0) -> None:
        self.signum = signum
        name = signal.Signals(signum).name if signum else "a signal"
        super().__init__(f"stopped by {name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.signum or signal.SIGTERM)


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in another thread at its next bytecode (None: cancel a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


@dataclass
class _State:
    main: int
    signum: int = 0
    inside: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def stop_on_signals(
    *, grace: float = 5.0, every: float = 0.05, on_timeout: Callable[[int], None] | None = None
) -> Iterator[None]:
    """Within the block, SIGTERM or SIGINT raises `Stopped(signum)` in the main thread, whatever handlers
    the code inside installs; leaving the block after a signal raises `Stopped` too.

    Args:
        grace: Seconds the block has to end after the signal before `on_timeout` and `os._exit(128 + signum)`.
        every: Seconds between two raises while the block has not ended.
        on_timeout: Last bookkeeping before the forced exit (runs in the watcher thread).

    Outside the main thread (signals are handled there only) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = _State(main=threading.main_thread().ident or 0)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in HANDLED}  # the C handler writes the fd
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        deadline = float("inf")
        while not state.finished.is_set():
            if select.select([reader], [], [], every if state.signum else 0.5)[0]:
                hits = [b for b in reader.recv(64) if b in HANDLED]
                if hits and not state.signum:
                    state.signum = hits[0]
                    deadline = time.monotonic() + grace
            if not state.signum:
                continue
            with state.lock:
                if not state.inside:
                    return
                if time.monotonic() > deadline:
                    if on_timeout is not None:
                        on_timeout(state.signum)
                    os._exit(128 + state.signum)
                _raise_in(state.main, Stopped)

    watcher = threading.Thread(target=watch, name="stop-on-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        while True:  # a raise may land here too: retry until the watcher can raise no more
            try:
                with state.lock:
                    state.inside = False
                    _raise_in(state.main, None)
                break
            except Stopped:
                continue
        state.finished.set()
        with contextlib.suppress(OSError):  # wake the watcher now rather than at its next 0.5 s look
            writer.send(b"\0")
        watcher.join()
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()
        if state.signum:
            raise Stopped(state.signum) from None


def exit_now(code: int) -> NoReturn:
    """Flush the output and the logs, then end the process at once with `code`.

    For a process that was asked to stop and has already put its state in order: the interpreter's
    teardown of Airflow, MLflow and scikit-learn takes seconds (3.5 s measured on this 2-core machine)
    that a supervisor waiting for the exit should not have to wait.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
