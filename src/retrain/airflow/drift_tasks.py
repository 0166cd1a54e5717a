"""Task callables of the `monitor_drift` DAG: each one step of `retrain.jobs.monitor.MonitorJob`.

Drift is decided on effect sizes (PSI, KS statistic), sustained over RETRAIN_DRIFT_CONSECUTIVE_DAYS
days, at most once per RETRAIN_DRIFT_COOLDOWN_DAYS: one alert and one `retrain` run per episode,
not one a day. Every assessed day is recorded in the ledger with its per-feature statistics.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from airflow.sdk.exceptions import AirflowFailException

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """Bad data and a refused champion artifact cannot be fixed by a retry: fail the task at once."""
    from retrain.registry import TamperedModelError, UntrustedModelError

    with fail_fast_on_bad_input():
        try:
            yield
        except (TamperedModelError, UntrustedModelError) as exc:
            raise AirflowFailException(f"refusing to load the champion: {exc}") from exc


def _job():  # type: ignore[no-untyped-def]
    from retrain.jobs.monitor import MonitorJob

    settings, _ = settings_and_layout()
    return MonitorJob.from_settings(settings)


def detect_drift(day: str) -> dict:
    """Assess the day against the champion's window, record it, and say whether to retrain."""
    with _fail_fast():
        return _job().run(day).to_dict()


def decide_retrain(result: dict) -> str:
    """Branch: a sustained drift outside the cooldown alerts and triggers `retrain`."""
    return "alert_drift" if result["should_retrain"] else "no_drift"


def alert_drift(result: dict) -> dict:
    """One alert per drift episode, through the same channels as deploy messages."""
    from retrain.jobs.monitor import DriftResult

    results = _job().alert(DriftResult.from_dict(result))
    return {"channels": [{"channel": r.channel, "ok": r.ok} for r in results]}
