"""Realised performance of one labelled day: the use case behind the `monitor_performance` DAG.

When a day's labels land (`generate_data` emits the labels asset event for that day):

1. the day must have been scored (`predictions/{ds}/predictions.csv`); a day never scored has no
   realised metric (nothing is recorded);
2. the metric (`RETRAIN_METRIC`) of the version that scored it, from the predictions and the labels
   (`retrain.performance.realised_metric`);
3. the trigger policy (`retrain.performance.should_trigger_on_performance`): below
   `RETRAIN_METRIC_THRESHOLD` on `RETRAIN_PERFORMANCE_CONSECUTIVE_DAYS` labelled days in a row, outside
   `RETRAIN_PERFORMANCE_COOLDOWN_DAYS`;
4. one ledger record per day and version (`retrain status`: `performance`); a rerun returns the
   recorded result instead of deciding again. The DAG then triggers `retrain` with `trigger=performance`.

Nothing here imports Airflow or MLflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from retrain.jobs._payload import Payload

if TYPE_CHECKING:
    from retrain.layout import Layout
    from retrain.notify import ChannelResult
    from retrain.settings import Settings

__all__ = ["PerformanceJob", "PerformanceResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerformanceResult(Payload):
    """What measuring one labelled day concluded (XCom: `to_dict()`).

    Attributes:
        ds: The labelled day.
        measured: False when the day was never scored (nothing recorded).
        should_retrain: Whether this drop starts a retrain (sustained, outside the cooldown).
        reasons: One sentence per rule checked (or why nothing was measured).
        metric, value, rows, version: The realised metric (value None: undefined on the day).
    """

    ds: str
    measured: bool
    should_retrain: bool
    reasons: list[str] = field(default_factory=list)
    metric: str | None = None
    value: float | None = None
    rows: int = 0
    version: str | None = None


@dataclass(frozen=True)
class PerformanceJob:
    """Measure the realised metric of labelled, scored days and decide whether to retrain."""

    settings: Settings
    layout: Layout

    def run(self, ds: str) -> PerformanceResult:
        """Measure day `ds`, record it (once per day and version), and say whether to retrain.

        Raises:
            FileNotFoundError: `ds`'s labels have not landed.
            retrain.data.errors.DataValidationError: the labels do not match the predictions' rows.
        """
        from retrain.performance import realised_metric, should_trigger_on_performance
        from retrain.records import ledger

        settings, layout = self.settings, self.layout
        if not layout.day_landed(ds):
            raise FileNotFoundError(f"{layout.raw_target(ds)} has not landed: no labels to measure {ds} with")
        predictions = layout.predictions_file(ds)
        if not predictions.is_file():
            reason = f"{ds} was never scored ({predictions} does not exist): no realised metric"
            log.info(reason)
            return PerformanceResult(ds, measured=False, should_retrain=False, reasons=[reason])
        realised = realised_metric(ds, predictions, layout.raw_target(ds), settings.metric)
        path = settings.ledger_path
        recorded = ledger.find(path, ds=ds, decision="performance", version=realised.version)
        if recorded is not None:
            log.info("%s was already measured for version %s: not recording it twice", ds, realised.version)
            should_retrain, reasons = bool(recorded.get("triggered_retrain")), list(recorded.get("reasons") or [])
        else:
            history = [e for e in ledger.read(path) if e.get("decision") == "performance" and e.get("ds") != ds]
            decision = should_trigger_on_performance(
                history,
                realised,
                threshold=settings.metric_threshold,
                consecutive_days=settings.performance_consecutive_days,
                cooldown_days=settings.performance_cooldown_days,
            )
            ledger.append(path, ledger.performance_entry(realised, decision, threshold=settings.metric_threshold))
            should_retrain, reasons = decision.should_retrain, decision.reasons
        log.info(
            "%s: realised %s of version %s on %d rows: %s; %s",
            ds,
            realised.metric,
            realised.version,
            realised.rows,
            "undefined" if realised.value is None else f"{realised.value:.4f}",
            "; ".join(reasons),
        )
        return PerformanceResult(
            ds=ds,
            measured=True,
            should_retrain=bool(should_retrain),
            reasons=reasons,
            metric=realised.metric,
            value=realised.value,
            rows=realised.rows,
            version=realised.version,
        )

    def alert(self, result: PerformanceResult) -> list[ChannelResult]:
        """One alert per triggered retrain, through the same channels as deploy messages (never raises for one)."""
        from retrain.notify import PerformanceMessage, send

        message = PerformanceMessage(
            self.settings.model_name,
            result.ds,
            result.metric or self.settings.metric,
            result.value,
            self.settings.metric_threshold,
            result.version,
            result.rows,
        )
        return send(self.settings, message, logger=log, outbox=self.settings.outbox_path)
