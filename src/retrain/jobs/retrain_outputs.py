"""What a retrain writes beside its decision: both models' holdout probabilities and the HTML report.

Called by `RetrainJob.evaluate` once the gate has decided; apart from the job's steps because both are
outputs for people and tools (the scores file for a later comparison, the report for a reviewer), not
part of the decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.jobs.retrain_run import RetrainRun
    from retrain.layout import Layout
    from retrain.model.gate import GateDecision
    from retrain.registry import Registry
    from retrain.settings import Settings


def write_holdout_scores(
    layout: Layout,
    ds: str,
    y: Any,
    classes: list[Any],
    challenger: Any,
    champion_classes: list[Any] | None,
    champion: Any,
) -> Path:
    """The holdout's scores file (`Layout.holdout_scores_file`): `target`, `challenger_{class}`, `champion_{class}`.

    Args:
        y: The holdout labels (a Series, in holdout row order).
        challenger, champion: Probabilities, rows × classes in `classes` / `champion_classes` order
            (`champion` None when there is no champion).
    """
    import pandas as pd

    from retrain.io import atomic_path

    columns: dict[str, Any] = {"target": y.to_numpy()}
    columns.update({f"challenger_{c}": challenger[:, i] for i, c in enumerate(classes)})
    if champion is not None and champion_classes is not None:
        columns.update({f"champion_{c}": champion[:, i] for i, c in enumerate(champion_classes)})
    path = layout.holdout_scores_file(ds)
    with atomic_path(path) as tmp:
        pd.DataFrame(columns).to_csv(tmp, index=False)
    return path


def write_retrain_report(
    settings: Settings,
    layout: Layout,
    registry: Registry,
    run: RetrainRun,
    decision: GateDecision,
    X_holdout: Any,
    y: Any,
    classes: list[Any],
    challenger_proba: Any,
    champion_proba: Any | None,
) -> Path:
    """reports/{ds}/report.html: both models on the holdout, the gate, and the holdout's drift.

    The drift section compares the holdout with the champion's training window (or, with no
    champion yet, with the training split), so each retrain shows what changed since the last one.
    The report is also logged to the challenger's MLflow run (`report/report.html`).
    """
    from retrain.data.prepare import read_split
    from retrain.drift import assess_day, load_window, reference_days
    from retrain.drift.calibration import null_rows
    from retrain.records import ledger
    from retrain.records.status import performance_rows
    from retrain.report.html import build_report, write_report

    ds = run.ds
    cache = None
    if run.champion_version is not None:
        start, end = reference_days(registry.get(run.champion_version).tags)
        reference = load_window(layout, start, end, list(X_holdout.columns))
        cache = layout.drift_null_file(run.champion_version, null_rows(len(X_holdout)))
    else:
        reference, _, _ = read_split(layout.train_file(ds))
    html = build_report(
        title=f"{settings.model_name}: retrain of {ds} ({run.trigger})",
        ds=ds,
        metric=settings.metric,
        y_true=y.to_numpy(),
        challenger_proba=challenger_proba,
        champion_proba=champion_proba,
        classes=classes,
        decision=decision.to_dict(),
        drift=assess_day(ds, reference, X_holdout, settings, cache=cache),
        reference=reference,
        current=X_holdout,
        performance=performance_rows(ledger.read(settings.ledger_path)),
    )
    path = write_report(layout.report_file(ds), html)
    registry.log_artifact(run.run_id, "report/report.html", path)
    return path
