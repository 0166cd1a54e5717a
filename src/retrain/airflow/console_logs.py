"""What `dag.test()` prints, made safe and short: secrets masked, the idle loop collapsed, and the first
error of each failed task kept for the closing summary."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

# `dag.test()` logs this once a second while a sensor waits in reschedule mode (1,492 lines in one wait).
_IDLE_MESSAGES = ("No tasks to run", "Waiting for Human-in-the-loop input")


def redact_console_logs() -> None:
    """Mask secrets in what `dag.test()` prints: task logs and the tracebacks of failed tasks.

    A deployed task sends its logs to a supervisor that applies Airflow's secrets masker (fed by
    `context.mask_secrets`); `dag.test()` runs tasks in this process and prints them itself, unmasked,
    so the same secrets (and any URL password) are masked here, in structlog's chain and in stdlib's
    handlers. Idempotent.
    """
    import structlog

    from retrain.airflow.context import masked_secrets
    from retrain.secrets import RedactingFilter, redact, redact_exception

    def redact_event(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        secrets = masked_secrets()
        exc_info = event.get("exc_info")
        if isinstance(exc_info, BaseException):
            redact_exception(exc_info, secrets)
        elif isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
            redact_exception(exc_info[1], secrets)
        elif exc_info and sys.exc_info()[1] is not None:
            redact_exception(sys.exc_info()[1], secrets)  # type: ignore[arg-type]
        return {k: redact(v, secrets) if isinstance(v, str) else v for k, v in event.items()}

    class LiveRedactingFilter(RedactingFilter):
        def filter(self, record: logging.LogRecord) -> bool:
            self.secrets = masked_secrets()
            return super().filter(record)

    processors = structlog.get_config()["processors"]
    if not any(getattr(p, "__name__", "") == "redact_event" for p in processors):
        processors.insert(max(0, len(processors) - 1), redact_event)  # before the renderer
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(LiveRedactingFilter(()))


class CollapseIdleLoop(logging.Filter):
    """Let one idle-loop line through per change of what it reports (which tasks wait), drop repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if not message.startswith(_IDLE_MESSAGES):
            return True
        # The set of waiting task instances prints in a new order each second: compare their ids.
        said = message + repr(sorted(_task_key(x) for arg in record.args or () for x in _items(arg)))
        if said == self.last:
            return False
        self.last = said
        return True


def _items(arg: Any) -> list[Any]:
    return list(arg) if isinstance(arg, set | frozenset | list | tuple) else [arg]


def _task_key(item: Any) -> str:
    task_id = getattr(item, "task_id", None)
    return f"{task_id}[{getattr(item, 'map_index', -1)}]" if task_id is not None else str(item)


def collapse_idle_loop() -> None:
    """Install `CollapseIdleLoop` on the logger of `dag.test()`'s loop. Idempotent."""
    logger = logging.getLogger("airflow.sdk.definitions.dag")
    if not any(isinstance(f, CollapseIdleLoop) for f in logger.filters):
        logger.addFilter(CollapseIdleLoop())


@contextlib.contextmanager
def task_errors() -> Iterator[dict[str, BaseException]]:
    """Collect, per task id (`task[i]` for a mapped one), the last error its in-process run ended with.

    `dag.test()` logs a failed task's traceback in the middle of everything and returns only states;
    this wraps the one function it calls per task (`run_task_in_process`, looked up at each call) to keep
    the error itself, for the closing summary.
    """
    from airflow.sdk.execution_time import supervisor

    errors: dict[str, BaseException] = {}
    original = supervisor.run_task_in_process

    def recording(ti: Any, task: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(ti, task, *args, **kwargs)
        if getattr(result, "error", None) is not None:
            key = ti.task_id if (ti.map_index is None or ti.map_index < 0) else f"{ti.task_id}[{ti.map_index}]"
            errors[key] = result.error
        return result

    supervisor.run_task_in_process = recording  # type: ignore[assignment]
    try:
        yield errors
    finally:
        supervisor.run_task_in_process = original  # type: ignore[assignment]
