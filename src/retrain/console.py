"""Terminal output for the CLI and the demo: rich, and able to keep talking while task logs go to a file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[Console]:
    """Send everything written to stdout/stderr (Airflow's task logs included) to `path`.

    Yields a console bound to the original terminal, so progress bars and tables stay readable
    while hundreds of task-log lines land in the file instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    with open(path, "ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield Console(file=terminal, force_terminal=terminal.isatty() or None)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


NOT_ON_TERMINAL = {"terminal": False}
"""`extra=` of a record `echo_logger` leaves in the log file only (e.g. a sensor that found its file at once)."""


class _Echo(logging.Handler):
    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "terminal", True):
            return
        try:
            self.console.print(record.getMessage(), soft_wrap=True, highlight=False, markup=False)
        except Exception:  # the terminal went away: the log file still has the line
            self.handleError(record)


@contextlib.contextmanager
def echo_logger(name: str, console: Console) -> Iterator[None]:
    """While the block runs, also print the INFO records of logger `name` on `console` (but those logged
    with `extra=NOT_ON_TERMINAL`).

    For the few lines a quiet run must still show, e.g. what a sensor waits for (a wait can last hours:
    a silent terminal would look hung).
    """
    logger = logging.getLogger(name)
    handler = _Echo(console)
    logger.addHandler(handler)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
