"""Failure alerts as an Airflow notifier, sent through the same channels as deploy messages."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class FailureAlertNotifier(BaseNotifier):
    """Sends one alert for a failed task: dag, task, logical date, try number, first error line, log link."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from retrain.notify import FailureAlert, send
        from retrain.settings import load_settings

        ti = context.get("ti") or context.get("task_instance")
        error = context.get("exception")
        logical_date = context.get("logical_date")
        alert = FailureAlert(
            dag_id=getattr(ti, "dag_id", "?"),
            task_id=getattr(ti, "task_id", "?"),
            logical_date=logical_date.isoformat() if logical_date is not None else str(context.get("ds")),
            try_number=int(getattr(ti, "try_number", 0) or 0),
            error=error if error is not None else "unknown error",
            log_url=getattr(ti, "log_url", None),
        )
        from retrain.airflow.context import mask_secrets

        settings = mask_secrets(load_settings())
        send(settings, alert, logger=log, outbox=settings.outbox_path)
