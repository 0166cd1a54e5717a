"""Task callables of the `monitor_drift` DAG: compare the day with the champion's training window.

Drift is decided on effect sizes (PSI, KS statistic), sustained over RETRAIN_DRIFT_CONSECUTIVE_DAYS
days, at most once per RETRAIN_DRIFT_COOLDOWN_DAYS: one alert and one `retrain` run per episode,
not one a day. Every assessed day is recorded in the ledger with its per-feature statistics.
"""

from __future__ import annotations

import logging

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout

log = logging.getLogger(__name__)


def data_has_landed(ds: str) -> bool:
    _, layout = settings_and_layout()
    return layout.raw_data(ds).is_file()


def detect_drift(ds: str) -> dict:
    """Assess the day against the champion's window, record it, and say whether to retrain."""
    from retrain.data.validate import read_features
    from retrain.drift import assess_day, drift_entry, load_window, reference_days, should_trigger
    from retrain.records import ledger
    from retrain.registry import Registry

    settings, layout = settings_and_layout()
    champion = Registry.from_settings(settings).champion()
    if champion is None:
        log.info("no champion yet: nothing to compare %s with", ds)
        return {"ds": ds, "drifted": False, "should_retrain": False, "reasons": ["no champion yet"]}
    start, end = reference_days(champion.tags)
    with fail_fast_on_bad_input():
        current = read_features(layout.raw_data(ds))
        reference = load_window(layout, start, end, list(current.columns))
    today = assess_day(ds, reference, current, settings)
    history = [e for e in ledger.read(settings.ledger_path) if e.get("decision") == "drift" and e.get("ds") != ds]
    decision = should_trigger(
        history, today, consecutive_days=settings.drift_consecutive_days, cooldown_days=settings.drift_cooldown_days
    )
    if ledger.find(settings.ledger_path, ds=ds, decision="drift", version=champion.version) is None:
        ledger.append(
            settings.ledger_path,
            drift_entry(today, decision, reference_window=[start, end], champion_version=champion.version),
        )
    else:  # a rerun of a day already assessed against this champion: the ledger keeps one record of it
        log.info("%s was already assessed against champion v%s: not recording it twice", ds, champion.version)
    top = sorted((f for f in today.features if f.drifted), key=lambda f: f.psi, reverse=True)[:5]
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
    return {
        "ds": ds,
        "drifted": bool(today.drifted),
        "should_retrain": bool(decision.should_retrain),
        "share": today.share,
        "champion_version": champion.version,
        "reference": [start, end],
        "top": [{"feature": f.feature, "psi": round(f.psi, 3), "ks": round(f.ks, 3)} for f in top],
        "reasons": list(decision.reasons),
    }


def decide_retrain(result: dict) -> str:
    """Branch: a sustained drift outside the cooldown alerts and triggers `retrain`."""
    return "alert_drift" if result["should_retrain"] else "no_drift"


def alert_drift(result: dict) -> dict:
    """One alert per drift episode, through the same channels as deploy messages."""
    from retrain.notify import send

    settings, _ = settings_and_layout()
    features = ", ".join(f"{f['feature']} (PSI {f['psi']}, KS {f['ks']})" for f in result["top"])
    text = (
        f"DRIFT: {settings.model_name} on {result['ds']}: {result['share']:.0%} of features drifted vs the "
        f"champion v{result['champion_version']} training window {result['reference'][0]}..{result['reference'][1]}\n"
        f"top: {features}\n"
        f"action: retrain triggered (trigger=drift)"
    )
    results = send(settings, text, logger=log, outbox=settings.outbox_path)
    return {"channels": [{"channel": r.channel, "ok": r.ok} for r in results]}
