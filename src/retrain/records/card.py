"""The model card under models/{ds}/: what was trained, on which window, how it scored, what the gate said.

A reader (or an auditor) finds every retrain's facts as plain JSON files next to the data, without
needing MLflow: metrics.json, params.json, window.json, decision.json, approval.json when a person was
asked (`RETRAIN_APPROVAL=required`), and model.json once deployed.
The file names come from `Layout.card_file`.

A card is written once: decision.json marks the date as decided (`recorded_decision`), and from then
on `write_card` only ever rewrites the card with the same content (a rerun); anything else would
leave decision.json contradicting model.json, the ledger and MLflow, so it is refused. A rerun whose
settings differ from those the card records is refused earlier, by `refuse_changed_rerun`, before
its first step writes a file or logs an MLflow run: `write_card` is the last line of defence (a
change no setting on the card shows, e.g. in the code), not the usual one.
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


RECORDED_SETTINGS: tuple[tuple[str, CardPart, str, str], ...] = (
    ("RETRAIN_ESTIMATOR", "params", "estimator", "estimator"),
    ("RETRAIN_ESTIMATOR_PARAMS", "params", "estimator_params", "estimator_params"),
    ("RETRAIN_SEED", "params", "seed", "seed"),
    ("RETRAIN_METRIC", "decision", "metric", "metric"),
    ("RETRAIN_METRIC_THRESHOLD", "decision", "threshold", "metric_threshold"),
    ("RETRAIN_MIN_IMPROVEMENT", "decision", "min_improvement", "min_improvement"),
    ("RETRAIN_GATE_METHOD", "decision", "method", "gate_method"),
    ("RETRAIN_GATE_CONFIDENCE", "decision", "confidence", "gate_confidence"),
)
"""The settings a card records as they are: (variable, card part, key in it, `Settings` field).

params.json holds them as `card_parts` writes them; decision.json as the gate (`GatePolicy.from_settings`)
put them in its decision. The other gate settings (resamples, size limits, slices) leave no value of
their own on the card: a change of theirs that changes the card is still refused, by `write_card`.
"""


def changed_settings(layout: Layout, ds: str, settings: Settings) -> list[str]:
    """The settings whose value on the card of `ds` differs from `settings`', as "NAME: recorded X, now Y".

    A value the card lacks (a card written before it was recorded) or holds as null (the confidence of
    a point-estimate gate, or of a holdout too small to decide) is not compared: no run would write it.
    """
    parts: dict[str, dict[str, Any]] = {}
    changes: list[str] = []
    for name, part, key, field in RECORDED_SETTINGS:
        if part not in parts:
            path = layout.card_file(ds, part)
            parts[part] = read_json(path) if path.is_file() else {}
        recorded, now = parts[part].get(key), getattr(settings, field)
        if recorded is not None and _canonical(recorded) != _canonical(now):
            changes.append(f"{name}: recorded {_shown(recorded)}, now {_shown(now)}")
    return changes


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def refuse_changed_rerun(layout: Layout, ds: str, settings: Settings, *, rows: tuple[int, int] | None = None) -> None:
    """Refuse a rerun of decided `ds` that would write another card, before the step that calls it writes.

    Called first by each retrain step that writes a file or logs to MLflow (prepare, split, train), so
    such a rerun stops at its first step with nothing changed: not after it rewrote processed/{ds}/ and
    logged a second MLflow run, when `write_card` would refuse it. A date not decided yet is not checked.

    Args:
        layout: Where the card of `ds` is.
        ds: The date being retrained.
        settings: The settings of this run (compared with `RECORDED_SETTINGS` on the card).
        rows: The training and holdout rows of this run's split, once known (compared with window.json).

    Raises:
        ConflictError: `ds` is decided and this run's settings (or split) differ from the card's; the
            message names the date, each difference (recorded and now) and how to go on.
    """
    from retrain.errors import ConflictError

    decided = recorded_decision(layout, ds)
    if decided is None:
        return
    changes = changed_settings(layout, ds, settings)
    window = layout.card_file(ds, "window")
    if rows is not None and window.is_file():
        recorded = read_json(window)
        if [recorded.get("train_rows"), recorded.get("holdout_rows")] != list(rows):
            changes.append(
                f"the split: recorded {recorded.get('train_rows')} training and {recorded.get('holdout_rows')} "
                f"holdout rows, now {rows[0]} and {rows[1]} (RETRAIN_HOLDOUT_FRACTION, or a raw day of the "
                "window, changed since?)"
            )
    if not changes:
        return
    raise ConflictError(
        f"{ds} was already decided ({decided.get('decision')}, models/{ds}/decision.json) under other settings: "
        f"{'; '.join(changes)}. A rerun would write another card, so it stopped before changing anything "
        f"(processed/{ds}/, MLflow, the ledger and models/{ds}/ are as they were). To rerun {ds}, restore the "
        f"recorded settings; for a decision under the new ones, retrain a later date "
        f"(retrain run retrain --date YYYY-MM-DD)"
    )


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


def _canonical(value: Any) -> str:
    # Compared as canonical JSON text, not as values: a NaN metric is "NaN" on both sides but never == itself,
    # and a value goes through JSON once as it would on its way into the card (a tuple becomes a list).
    return json.dumps(json.loads(json.dumps(value, sort_keys=True, default=str)), sort_keys=True)


def _same_json(path: Path, data: dict[str, Any]) -> bool:
    return path.is_file() and _canonical(read_json(path)) == _canonical(data)


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
