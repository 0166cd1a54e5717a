"""`dag.test()`'s idle sleep, backed off from short instead of a fixed second.

`DAG.test()` (airflow/sdk/definitions/dag.py) sleeps `time.sleep(1)` in each pass of its scheduling loop
that finds no task ready while some are unfinished ("No tasks to run"). That suits a real wait (a
deferred sensor, a person's approval), but after a task fails its downstream tasks are marked
`upstream_failed` one level per pass, so a failure at the top of the ten-task `retrain` DAG slept ~5 s
before the run could end: the error was known at once and the command still took seconds more.

Within `backed_off_idle_sleep()`, the sleeps `DAG.test` itself asks for (and only those: the caller's
code object is checked) last `FIRST_SLEEP` seconds, doubling with each idle pass in a row up to what it
asked for (0.05, 0.1, 0.2, 0.4, 0.8, 1, 1, ... s); a task run starts the series again. A failure's
levels settle in ~1.5 s of sleeping instead of 5, and a long wait still polls once a second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FIRST_SLEEP = 0.05
"""Seconds of the first idle sleep in a row (then doubled, up to what `DAG.test` asked for)."""


@dataclass
class IdleSleeps:
    """What the backed-off sleeps did in one run: the count and the seconds slept (for tests and logs)."""

    count: int = 0
    seconds: float = 0.0
    in_a_row: int = 0


@contextlib.contextmanager
def backed_off_idle_sleep() -> Iterator[IdleSleeps]:
    """Back off `DAG.test()`'s idle sleep while the block runs (see the module docstring); restored after."""
    from airflow.sdk.definitions.dag import DAG
    from airflow.sdk.execution_time import supervisor

    loop_code = DAG.test.__code__
    sleeps = IdleSleeps()
    original_sleep, original_run = time.sleep, supervisor.run_task_in_process

    def sleep(seconds: float) -> None:
        import sys

        if sys._getframe(1).f_code is not loop_code:
            original_sleep(seconds)
            return
        delay = min(seconds, FIRST_SLEEP * 2**sleeps.in_a_row)
        sleeps.in_a_row += 1
        sleeps.count += 1
        sleeps.seconds += delay
        original_sleep(delay)

    def run_task(*args: Any, **kwargs: Any) -> Any:
        sleeps.in_a_row = 0  # a task ran: the states are moving again
        return original_run(*args, **kwargs)

    time.sleep = sleep  # type: ignore[assignment]
    supervisor.run_task_in_process = run_task  # type: ignore[assignment]
    try:
        yield sleeps
    finally:
        time.sleep = original_sleep  # type: ignore[assignment]
        supervisor.run_task_in_process = original_run  # type: ignore[assignment]
