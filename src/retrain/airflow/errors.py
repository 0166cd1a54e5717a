"""The one place where domain errors become Airflow's: fail at once, or let Airflow retry.

`retrain.errors.classify` tells the kinds apart; this module applies Airflow's reaction to each:

- bad input, configuration, conflict: `AirflowFailException`, so the task fails on try 1 and its one
  alert (sent after the last try) comes at once instead of after the retry delays. Bad input can first
  be set aside (`quarantine`), and the message says where it went.
- nothing to do (`NothingToDo`, not a failure): `AirflowSkipException`, so the task and everything
  after it are skipped and the run succeeds.
- transient and unclassified errors propagate unchanged: Airflow retries them (`RETRAIN_TASK_RETRIES`).
  An unclassified error keeps the retries because its cause is unknown; a retry is cheap, a lost day is not.

Use it around the body of every task:

    with domain_errors():
        return job.step(...)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from retrain.errors import NothingToDo, classify

log = logging.getLogger(__name__)

_LABELS = {"bad_input": "bad input", "configuration": "configuration", "conflict": "conflict"}


def _set_aside(quarantine: Callable[[Any], Path | None], exc: BaseException) -> Path | None:
    """Run the quarantine; one that itself fails is logged and never hides the error it handles."""
    try:
        return quarantine(exc)
    except OSError as problem:
        log.warning("could not quarantine the bad day: %s", problem)
        return None


@contextlib.contextmanager
def domain_errors(quarantine: Callable[[Any], Path | None] | None = None) -> Iterator[None]:
    """Fail the task at once on errors a retry cannot fix; let the others reach Airflow's retries.

    Args:
        quarantine: Called with a bad-input error to set the bad day aside; returns the folder it used,
            or None when there was nothing to set aside.

    Raises:
        AirflowFailException: For bad input, configuration and conflict errors, with the error's
            message (plus where the day was quarantined).
        AirflowSkipException: For `NothingToDo`, with its message.
    """
    try:
        yield
    except AirflowFailException:
        raise
    except NothingToDo as exc:
        log.info("nothing to do, the rest of the run is skipped: %s", exc)
        raise AirflowSkipException(str(exc)) from exc
    except Exception as exc:
        kind = classify(exc)
        if kind not in _LABELS:
            raise
        message = str(exc)
        if kind == "bad_input" and quarantine is not None:
            folder = _set_aside(quarantine, exc)
            if folder is not None:
                log.error("bad input: the day was quarantined to %s", folder)
                message += f" (the day was quarantined to {folder})"
        log.error("%s error, not retried: %s", _LABELS[kind], message)
        raise AirflowFailException(message) from exc


fail_fast_on_bad_input = domain_errors
"""The name the first adapters used; the same mapping."""
