"""MLflow's expected but alarming-looking chatter, muted one message at a time (everything else passes)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


@contextlib.contextmanager
def muted(logger_name: str, fragment: str) -> Iterator[None]:
    """Drop log records of `logger_name` whose message contains `fragment`, for the block."""
    logger = logging.getLogger(logger_name)
    drop = _DropMessage(fragment)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class Quiet:
    """A stderr sink for MLflow's `eprint` chatter during registration (our caller logs the result)."""

    def write(self, text: str) -> int:
        """Log `text` at debug level instead of printing it."""
        if text.strip():
            log.debug("mlflow: %s", text.strip())
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""
        return None
