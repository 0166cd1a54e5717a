"""Small helpers that read what a task needs from the Airflow context and the settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from retrain.layout import Layout
from retrain.settings import Settings, load_settings

if TYPE_CHECKING:
    from retrain.data.errors import DataValidationError

log = logging.getLogger(__name__)

TRIGGERS = ("schedule", "drift", "manual")


def settings_and_layout() -> tuple[Settings, Layout]:
    """The settings (their secrets registered with Airflow's masker) and the data layout."""
    settings = mask_secrets(load_settings())
    return settings, Layout(settings.data_dir)


def mask_secrets(settings: Settings) -> Settings:
    """Register every secret of the settings with Airflow's secrets masker; returns `settings`.

    Task logs and the tracebacks Airflow logs then show `***` (a URL setting's password, quoted by
    MLflow in "API request to http://user:pw@host failed", included). `mask_secret` also tells the
    supervisor process when there is one.
    """
    from airflow.sdk.log import mask_secret

    from retrain.secrets import secret_values

    for secret in secret_values(settings):
        mask_secret(secret)
        _MASKED.add(secret)
    return settings


_MASKED: set[str] = set()  # every secret registered in this process (for `runner`'s in-process masking)


def masked_secrets() -> list[str]:
    """Every secret `mask_secrets` registered in this process."""
    return list(_MASKED)


def trigger_of(dag_run: Any) -> str:
    """Why this run exists: `conf["trigger"]` when given, else the run type (scheduled, asset, manual)."""
    conf = getattr(dag_run, "conf", None) or {}
    trigger = conf.get("trigger")
    if trigger in TRIGGERS:
        return str(trigger)
    run_type = str(getattr(dag_run, "run_type", "") or "")
    if "scheduled" in run_type:
        return "schedule"
    if "asset" in run_type:
        return "drift"
    return "manual"


@contextlib.contextmanager
def fail_fast_on_bad_input(
    quarantine: Callable[[DataValidationError], Path | None] | None = None,
) -> Iterator[None]:
    """Bad data cannot be fixed by a retry: fail the task at once, with the validator's message.

    With `quarantine`, the bad day is first set aside (it returns the folder it used, or None when
    there was nothing to set aside) and the message says where. A quarantine that itself fails is
    logged and never hides the data error.
    """
    from retrain.data.errors import DataValidationError

    try:
        yield
    except DataValidationError as exc:
        message = str(exc)
        if quarantine is not None:
            try:
                folder = quarantine(exc)
            except OSError as problem:
                log.warning("could not quarantine the bad day: %s", problem)
                folder = None
            if folder is not None:
                log.error("bad input: the day was quarantined to %s", folder)
                message += f" (the day was quarantined to {folder})"
        raise AirflowFailException(message) from exc
