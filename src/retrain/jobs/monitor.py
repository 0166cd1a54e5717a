"""Drift monitoring of one day: compare it with the champion's training window, record it, decide.

The use case behind the `monitor_drift` DAG (`retrain.airflow.drift_tasks` maps it to tasks):

1. the champion and its training window (`retrain.drift.reference.reference_days`, from its tags);
2. the day's features and the window's, reading ONLY the champion's feature columns, as scoring does
   (a later export with an extra id column, text or numbers, neither fails the day nor makes an older
   day look like it lacks a column);
3. the statistics (`retrain.drift.statistics.assess_day`, each feature's PSI against its null at the
   day's size, kept per champion and size by `retrain.drift.calibration`) and the trigger policy
   (`retrain.drift.trigger.should_trigger`: hysteresis and cooldown, read back from the ledger);
4. one ledger record per day and champion (a rerun of a day does not record it twice);
5. on a sustained drift outside the cooldown, one alert (`MonitorJob.alert`); the DAG then triggers
   `retrain` with `trigger=drift`.

Nothing here imports Airflow.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retrain.jobs._payload import Payload

if TYPE_CHECKING:
    from retrain.layout import Layout
    from retrain.notify import ChannelResult, DriftMessage
    from retrain.registry import ModelRef
    from retrain.registry.cached import CachedRegistry
    from retrain.settings import Settings

__all__ = ["DriftResult", "MonitorJob", "drift_alert_text"]

log = logging.getLogger(__name__)

TOP_FEATURES = 5
"""Drifted features named in the result and the alert (highest PSI first)."""


@dataclass(frozen=True)
class DriftResult(Payload):
    """What monitoring concluded about one day (XCom: `to_dict()`).

    Attributes:
        ds: The day.
        drifted: Whether the day drifted (share of drifted features >= RETRAIN_DRIFT_MIN_SHARE).
        should_retrain: Whether this drift starts a retrain (sustained, outside the cooldown).
        reasons: One sentence per rule the trigger policy checked (or why nothing was compared).
        share: Drifted features / features compared (None with no champion).
        champion_version: The champion the day was compared with (None with no champion).
        reference: The champion's training window `[start, end]` (empty with no champion).
        top: Up to `TOP_FEATURES` drifted features, highest PSI first: `{"feature", "psi", "ks"}`.
    """

    ds: str
    drifted: bool
    should_retrain: bool
    reasons: list[str]
    share: float | None = None
    champion_version: str | None = None
    reference: list[str] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)


def drift_alert_text(result: DriftResult, model_name: str) -> str:
    """The alert for a drift that starts a retrain: model, day, share, champion window, top features."""
    return drift_message(result, model_name).text()


def drift_message(result: DriftResult, model_name: str) -> DriftMessage:
    """The drift alert as a message (`retrain.notify.DriftMessage`: the feature list is shortened first)."""
    from retrain.notify import DriftMessage

    share = result.share or 0.0
    return DriftMessage(model_name, result.ds, share, result.champion_version, result.reference, result.top)


@dataclass(frozen=True)
class MonitorJob:
    """Assess one day's drift against the champion's training window (see the module docstring).

    Attributes:
        settings: The typed settings (drift thresholds, consecutive days, cooldown, ledger path).
        layout: Where the days live.
        registry: The model registry's cached read side (the champion, its tags and its feature columns).
    """

    settings: Settings
    layout: Layout
    registry: CachedRegistry

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitorJob:
        """The job on the settings' data folder and registry."""
        from retrain.layout import Layout
        from retrain.registry.cached import CachedRegistry

        # the model cache answers while the store is unchanged: MLflow is imported only on a miss
        return cls(settings, Layout(settings.data_dir), CachedRegistry.from_settings(settings))

    def champion_columns(self, champion: ModelRef) -> list[str]:
        """The feature columns the champion reads, in its order (from the verified model, or its cache entry).

        Raises:
            retrain.registry.TamperedModelError, retrain.registry.UntrustedModelError: The champion's
                artifact was modified or holds untrusted types.
        """
        return self.registry.feature_columns(champion.uri)

    def run(self, ds: str) -> DriftResult:
        """Assess `ds`, record it in the ledger (once per day and champion) and say whether to retrain.

        Raises:
            retrain.data.errors.DataValidationError: The day, or a day of the window, lacks one of the
                champion's columns or holds a bad value in one (the message names file, column, row).
            ValueError: The champion has no training window, or none of its days has landed.
        """
        from retrain.data.validate import read_features
        from retrain.drift import assess_day, load_window, reference_days, should_trigger
        from retrain.drift.calibration import null_rows
        from retrain.records import ledger
        from retrain.records.ledger import drift_entry

        settings = self.settings
        champion = self.registry.champion()
        if champion is None:
            log.info("no champion yet: nothing to compare %s with", ds)
            return DriftResult(ds, drifted=False, should_retrain=False, reasons=["no champion yet"])
        start, end = reference_days(champion.tags)
        columns = self.champion_columns(champion)
        current = read_features(self.layout.raw_data(ds), columns)
        reference = load_window(self.layout, start, end, columns)
        cache = self.layout.drift_null_file(champion.version, null_rows(len(current)))
        today = assess_day(ds, reference, current, settings, cache=cache)
        history = [e for e in ledger.read(settings.ledger_path) if e.get("decision") == "drift" and e.get("ds") != ds]
        decision = should_trigger(
            history, today, consecutive_days=settings.drift_consecutive_days, cooldown_days=settings.drift_cooldown_days
        )
        if ledger.find(settings.ledger_path, ds=ds, decision="drift", version=champion.version) is None:
            entry = drift_entry(today, decision, reference_window=[start, end], champion_version=champion.version)
            ledger.append(settings.ledger_path, entry)
        else:  # a rerun of a day already assessed against this champion: the ledger keeps one record of it
            log.info("%s was already assessed against champion v%s: not recording it twice", ds, champion.version)
        top = sorted((f for f in today.features if f.drifted), key=lambda f: f.psi, reverse=True)[:TOP_FEATURES]
        log.info(
            "%s vs champion v%s window %s..%s: %d/%d features drifted (share %.2f); %s",
            ds,
            champion.version,
            start,
            end,
            len(today.drifted_features),
            len(today.features),
            today.share,
            "; ".join(decision.reasons),
        )
        return DriftResult(
            ds=ds,
            drifted=bool(today.drifted),
            should_retrain=bool(decision.should_retrain),
            reasons=list(decision.reasons),
            share=today.share,
            champion_version=champion.version,
            reference=[start, end],
            # A categorical feature has no KS statistic: None (JSON has no NaN).
            top=[
                {"feature": f.feature, "psi": round(f.psi, 3), "ks": None if math.isnan(f.ks) else round(f.ks, 3)}
                for f in top
            ],
        )

    def alert(self, result: DriftResult) -> list[ChannelResult]:
        """One alert per drift episode, through the same channels as deploy messages (never raises for one)."""
        from retrain.notify import send

        message = drift_message(result, self.settings.model_name)
        return send(self.settings, message, logger=log, outbox=self.settings.outbox_path)
