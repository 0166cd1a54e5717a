"""The model card under models/{ds}/: what was trained, on which window, how it scored, what the gate said.

A reader (or an auditor) finds every retrain's facts as plain JSON files next to the data, without
needing MLflow: metrics.json, params.json, window.json, decision.json, approval.json when a person was
asked (`RETRAIN_APPROVAL=required`), and model.json once deployed.
The file names come from `Layout.card_file`.

A card is written once: decision.json marks the date as decided (`recorded_decision`), and from then
on `write_card` only ever rewrites the card with the same content (a rerun); anything else would
leave decision.json contradicting model.json, the ledger and MLflow, so it is refused.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from retrain.io import read_json, write_json

if TYPE_CHECKING:
    from pathlib import Path

    from retrain.jobs.retrain import HoldoutScores, RetrainRun
    from retrain.jobs.retrain_run import Approval
    from retrain.layout import CardPart, Layout
    from retrain.model.gate import GateDecision
    from retrain.settings import Settings


def recorded_decision(layout: Layout, ds: str) -> dict[str, Any] | None:
    """The gate decision recorded for `ds` (models/{ds}/decision.json), or None: `ds` is not decided yet."""
    path = layout.card_file(ds, "decision")
    return read_json(path) if path.is_file() else None


def recorded_model(layout: Layout, ds: str) -> dict[str, Any] | None:
    """The deploy recorded for `ds` (models/{ds}/model.json, written once the alias moved), or None."""
    path = layout.card_file(ds, "model")
    return read_json(path) if path.is_file() else None


def recorded_pin(layout: Layout, ds: str) -> dict[str, Any] | None:
    """The pin (as in `Layout.prepared_file`) the card of `ds` records, or None when the card lacks it."""
    window, metrics = layout.card_file(ds, "window"), layout.card_file(ds, "metrics")
    if not (window.is_file() and metrics.is_file()):
        return None
    days = read_json(window)
    return {
        "window": days["days"],
        "holdout_days": days["holdout_days"],
        "champion_version": read_json(metrics)["champion_version"],
    }


def card_parts(
    run: RetrainRun, scores: HoldoutScores, decision: GateDecision, settings: Settings
) -> dict[CardPart, dict[str, Any]]:
    """The content of metrics.json, params.json, window.json and decision.json, in the order written.

    decision.json comes last: its presence means every other part of the card was written.
    """
    return {
        "metrics": {
            "metric": scores.metric,
            "challenger": scores.challenger,
            "champion": scores.champion,
            "challenger_score": scores.challenger_score,
            "champion_score": scores.champion_score,
            "champion_version": run.champion_version,
        },
        "params": {
            "estimator": settings.estimator,
            "estimator_params": settings.estimator_params,
            "seed": settings.seed,
            "run_id": run.run_id,
        },
        "window": {
            "start": run.window[0],
            "end": run.window[-1],
            "days": list(run.window),
            "holdout_days": list(run.holdout_days),
            "train_rows": run.train_rows,
            "holdout_rows": run.holdout_rows,
        },
        "decision": {**decision.to_dict(), "trigger": run.trigger},
    }


def _same_json(path: Path, data: dict[str, Any]) -> bool:
    # Compared as canonical JSON text, not as dicts: a NaN metric is "NaN" on both sides but never == itself.
    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    return path.is_file() and canonical(read_json(path)) == canonical(json.loads(canonical(data)))


def write_card(
    layout: Layout, run: RetrainRun, scores: HoldoutScores, decision: GateDecision, settings: Settings
) -> None:
    """Write metrics.json, params.json, window.json and decision.json of the retrain of `run.ds`.

    Once `run.ds` is decided (decision.json exists), a rerun may only write the same card again.

    Args:
        layout: Where the card goes (`layout.card_file(ds, part)`).
        run: The retrain (window, holdout days, row counts, MLflow run).
        scores: Both models' metrics on the holdout.
        decision: The gate's decision, with its reasons.
        settings: For the estimator's spec.

    Raises:
        ConflictError: `run.ds` was decided before and this card differs from the recorded one (the
            settings, the estimator or the code changed since): no part of the card was written.
    """
    from retrain.errors import ConflictError

    ds = run.ds
    parts = card_parts(run, scores, decision, settings)
    recorded = recorded_decision(layout, ds)
    changed = [part for part, data in parts.items() if not _same_json(layout.card_file(ds, part), data)]
    if recorded is not None and changed:
        raise ConflictError(
            f"{ds} was already decided ({recorded.get('decision')}, models/{ds}/decision.json) and this rerun "
            f"would rewrite {', '.join(f'{p}.json' for p in changed)} with other content (the settings, the "
            f"estimator or the code changed since?); the card was left as it was. A decided date keeps its "
            f"decision: for a decision on the new settings or on labels that landed since, run a later date "
            f"(retrain run retrain --date YYYY-MM-DD)"
        )
    for part, data in parts.items():
        write_json(layout.card_file(ds, part), data)


def write_model_ref(
    layout: Layout, ds: str, *, model_name: str, version: str, previous_version: str | None, run_id: str
) -> dict[str, Any]:
    """model.json, written last, after the alias moved: its presence means the deploy of `ds` completed."""
    ref = {
        "model_name": model_name,
        "version": version,
        "uri": f"models:/{model_name}/{version}",
        "previous_version": previous_version,
        "run_id": run_id,
    }
    write_json(layout.card_file(ds, "model"), ref)
    return ref


def write_approval(layout: Layout, ds: str, approval: Approval) -> dict[str, Any]:
    """approval.json: the person's answer to the deploy of `ds` (outcome, by, at, comment, timeout)."""
    data = approval.to_dict()
    write_json(layout.card_file(ds, "approval"), data)
    return data
