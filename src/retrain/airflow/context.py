"""Small helpers that read what a task needs from the Airflow context and the settings."""

from __future__ import annotations

import logging
from typing import Any

from retrain.airflow.errors import domain_errors, fail_fast_on_bad_input
from retrain.layout import Layout
from retrain.records.ledger import TRIGGERS, Trigger
from retrain.settings import Settings, load_settings

__all__ = ["domain_errors", "fail_fast_on_bad_input", "settings_and_layout", "trigger_of"]

log = logging.getLogger(__name__)


def settings_and_layout() -> tuple[Settings, Layout]:
    """The settings (a bad one fails the task at once: configuration; secrets registered with Airflow's
    masker) and the data folder's layout."""
    with domain_errors():
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


def register_secret(secret: str) -> None:
    """Mask `secret` too (a value found at run time, e.g. a Connection's password): Airflow's masker and ours."""
    from airflow.sdk.log import mask_secret

    if secret:
        mask_secret(secret)
        _MASKED.add(secret)


def masked_secrets() -> list[str]:
    """Every secret `mask_secrets` registered in this process."""
    return list(_MASKED)


def trigger_of(dag_run: Any) -> Trigger:
    """Why this run exists: `conf["trigger"]` when given, else the run type (scheduled, asset, manual)."""
    conf = getattr(dag_run, "conf", None) or {}
    trigger = conf.get("trigger")
    if trigger in TRIGGERS:
        return trigger
    run_type = str(getattr(dag_run, "run_type", "") or "")
    if "scheduled" in run_type:
        return "schedule"
    if "asset" in run_type:
        return "drift"
    return "manual"
