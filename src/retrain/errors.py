"""The kinds of failure the whole system tells apart, and the one function that tells them apart.

A failure is one of three kinds, and each calls for a different reaction:

- bad input (`BadInputError`): a file, a label, a version number that is wrong. A retry reads the same
  input and fails the same way, so the task fails at once and the message says what to fix.
- configuration (`ConfigurationError`): a setting that cannot work (an estimator that is no classifier,
  a threshold that is NaN). Same reaction: fail at once, name the setting.
- transient (`TransientError`): the network, a database that is locked, an MLflow server answering
  5xx. Only these are worth a retry.

Errors raised by libraries are mapped onto the kinds by `classify`, so the rule lives in one place
(the Airflow adapters use it in `retrain.airflow.errors`, the CLI turns the first two into `error: ...`).
This module imports nothing heavy: every layer can raise and catch these.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Literal

ErrorKind = Literal["bad_input", "configuration", "conflict", "transient", "unknown"]


class RetrainError(Exception):
    """Base of the errors this project raises on purpose; the message says what, where and how to fix."""


class BadInputError(RetrainError, ValueError):
    """The input (a data file, a model, a version asked for) is wrong; retrying cannot help."""


class ConfigurationError(RetrainError, ValueError):
    """A setting cannot work; the message names the setting. Retrying cannot help."""


class ConflictError(RetrainError):
    """The state moved under the caller (e.g. the champion changed since the gate compared with it).

    Nothing was changed; the caller's decision no longer holds, so a retry of the same step cannot help.
    """


class NothingToDo(RetrainError):
    """Not a failure: the step found nothing to do (e.g. no new labelled data since the champion trained).

    The decision is recorded before it is raised; the run ends at once as skipped (Airflow: the task
    and everything after it are skipped, the run succeeds).
    """


class TransientError(RetrainError):
    """A passing failure (network, a locked database, a server error): worth a retry."""


_TRANSIENT_TEXT = (
    "database is locked",
    "connection refused",
    "could not connect",
    "connection reset",
    "temporarily unavailable",
    "timed out",
    "timeout",
    "503",
    "502",
    "504",
    "500 internal server error",
    "too many requests",
)
"""Fragments of library messages that mean "try again later" (SQLite, psycopg, requests, MLflow's REST)."""


def _is_instance(exc: BaseException, module: str, names: tuple[str, ...]) -> bool:
    """isinstance against classes of `module` only if it was imported: never import a heavy module to check."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return False
    classes = tuple(c for c in (getattr(loaded, n, None) for n in names) if isinstance(c, type))
    return bool(classes) and isinstance(exc, classes)


def classify(exc: BaseException) -> ErrorKind:
    """The kind of `exc`: what a task should do with it (fail at once, or let a retry try again).

    Bad input: `BadInputError`, the data stage's `BadDataError` (formerly `DataValidationError`), a
    tampered or untrusted model.
    Configuration: `ConfigurationError`, `SettingsError`, the estimator's `EstimatorError`.
    Conflict: `ConflictError`, the registry's `StaleChampionError`.
    Transient: `TransientError`, `ConnectionError`, `TimeoutError`, a locked SQLite database, and any
    error whose message says the server refused, timed out or answered 5xx.
    Anything else is `unknown`: the caller keeps its default (Airflow retries it).
    """
    if isinstance(exc, BadInputError) or _is_instance(
        exc, "retrain.data.errors", ("BadDataError", "DataValidationError")
    ):
        return "bad_input"
    if _is_instance(exc, "retrain.registry", ("TamperedModelError", "UntrustedModelError")):
        return "bad_input"
    if isinstance(exc, ConfigurationError) or _is_instance(exc, "retrain.settings", ("SettingsError",)):
        return "configuration"
    if _is_instance(exc, "retrain.model.train", ("EstimatorError",)):
        return "configuration"
    if isinstance(exc, ConflictError) or _is_instance(exc, "retrain.registry", ("StaleChampionError",)):
        return "conflict"
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return "transient"
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return "transient"
    if any(fragment in text for fragment in _TRANSIENT_TEXT):
        return "transient"
    return "unknown"


def fails_at_once(exc: BaseException) -> bool:
    """True for the kinds a retry cannot fix: bad input, configuration, conflict."""
    return classify(exc) in ("bad_input", "configuration", "conflict")
