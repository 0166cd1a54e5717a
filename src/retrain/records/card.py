"""The model card under models/{ds}/: what was trained, on which window, how it scored, what the gate said.

A reader (or an auditor) finds every retrain's facts as plain JSON files next to the data, without
needing MLflow: metrics.json, params.json, window.json, decision.json, approval.json when a person was
asked (`RETRAIN_APPROVAL=required`), and model.json once deployed.
The file names come from `Layout.card_file`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.io import write_json

if TYPE_CHECKING:
    from retrain.jobs.retrain import HoldoutScores, RetrainRun
    from retrain.jobs.retrain_run import Approval
    from retrain.layout import Layout
    from retrain.model.gate import GateDecision
    from retrain.settings import Settings


def write_card(
    layout: Layout, run: RetrainRun, scores: HoldoutScores, decision: GateDecision, settings: Settings
) -> None:
    """Write metrics.json, params.json, window.json and decision.json of the retrain of `run.ds`.

    Args:
        layout: Where the card goes (`layout.card_file(ds, part)`).
        run: The retrain (window, holdout days, row counts, MLflow run).
        scores: Both models' metrics on the holdout.
        decision: The gate's decision, with its reasons.
        settings: For the estimator's spec.
    """
    ds = run.ds
    write_json(
        layout.card_file(ds, "metrics"),
        {
            "metric": scores.metric,
            "challenger": scores.challenger,
            "champion": scores.champion,
            "challenger_score": scores.challenger_score,
            "champion_score": scores.champion_score,
            "champion_version": run.champion_version,
        },
    )
    write_json(
        layout.card_file(ds, "params"),
        {
            "estimator": settings.estimator,
            "estimator_params": settings.estimator_params,
            "seed": settings.seed,
            "run_id": run.run_id,
        },
    )
    write_json(
        layout.card_file(ds, "window"),
        {
            "start": run.window[0],
            "end": run.window[-1],
            "days": list(run.window),
            "holdout_days": list(run.holdout_days),
            "train_rows": run.train_rows,
            "holdout_rows": run.holdout_rows,
        },
    )
    write_json(layout.card_file(ds, "decision"), {**decision.to_dict(), "trigger": run.trigger})


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
