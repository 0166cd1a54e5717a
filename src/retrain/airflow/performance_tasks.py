"""Task callables of the `monitor_performance` DAG: each one step of `retrain.jobs.performance.PerformanceJob`."""

from __future__ import annotations

from retrain.airflow.context import settings_and_layout
from retrain.airflow.errors import domain_errors


def _job():  # type: ignore[no-untyped-def]
    from retrain.jobs.performance import PerformanceJob

    settings, layout = settings_and_layout()
    return PerformanceJob(settings, layout)


def measure_performance(day: str) -> dict:
    """The champion's realised metric on the labelled day (if it scored it), recorded; whether to retrain."""
    with domain_errors():
        return _job().run(day).to_dict()


def decide_retrain(result: dict) -> str:
    """Branch: a sustained drop outside the cooldown alerts and triggers `retrain`."""
    return "alert_performance" if result["should_retrain"] else "no_retrain"


def alert_performance(result: dict) -> dict:
    """One alert per triggered retrain, through the same channels as deploy messages."""
    from retrain.jobs.performance import PerformanceResult

    results = _job().alert(PerformanceResult.from_dict(result))
    return {"channels": [{"channel": r.channel, "ok": r.ok} for r in results]}
