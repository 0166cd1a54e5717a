"""Task callables of the `retrain` DAG: window → validate → split → train → evaluate → gate → deploy.

Each task passes a small dict of paths, ids and numbers to the next (never a model or a frame): the
model travels through MLflow, the data through files under the data folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout, trigger_of

log = logging.getLogger(__name__)


def _registry(settings: Any) -> Any:
    from retrain.registry import Registry

    return Registry.from_settings(settings)


def data_has_landed(ds: str) -> bool:
    """Sensor: both files of the day are there (written atomically, so present means complete)."""
    return settings_and_layout()[1].day_landed(ds)


def prepare_data(ds: str, dag_run: Any = None) -> dict:
    """Pick the training window and the fresh days the holdout comes from, and pin the champion.

    A rerun of a date reuses what its first run pinned (processed/{ds}/prepared.json): the same
    holdout and the same champion to beat, so it reaches the same decision and reuses the same MLflow
    run and registry version instead of creating duplicates.
    """
    from retrain.data.prepare import fresh_days, training_window
    from retrain.io import read_json, write_json

    settings, layout = settings_and_layout()
    with fail_fast_on_bad_input():
        window = training_window(layout.raw_days(until=ds), ds, settings.window_days)
    pinned_path = layout.processed(ds) / "prepared.json"
    pinned = read_json(pinned_path) if pinned_path.is_file() else None
    if pinned is not None and pinned.get("window") == window:
        fresh, champion_version = pinned["fresh"], pinned["champion_version"]
        log.info("rerun of %s: reusing its holdout days and champion (v%s)", ds, champion_version)
    else:
        champion = _registry(settings).champion()
        champion_window_end = champion.tags.get("window_end") if champion else None
        fresh = fresh_days(window, settings.holdout_days, champion_window_end)
        champion_version = champion.version if champion else None
        write_json(pinned_path, {"window": window, "fresh": fresh, "champion_version": champion_version})
    ctx = {
        "ds": ds,
        "trigger": trigger_of(dag_run),
        "window": window,
        "fresh": fresh,
        "champion_version": champion_version,
    }
    log.info(
        "window %s..%s (%d days), holdout from %s, champion %s",
        window[0],
        window[-1],
        len(window),
        fresh,
        champion_version,
    )
    return ctx


def validate_data(ctx: dict) -> dict:
    """Validate every day of the window; the first bad file stops the run with its name, column and row."""
    from retrain.data.prepare import shared_columns
    from retrain.data.validate import validate_day

    _, layout = settings_and_layout()
    rows = 0
    with fail_fast_on_bad_input(lambda exc: quarantine_raw_day(layout, exc)):
        # Days may reorder columns or carry extras (generate_data accepts both): read the shared ones by name.
        columns = shared_columns(layout, ctx["window"])
        for day in ctx["window"]:
            features, target = validate_day(layout.raw_data(day), layout.raw_target(day), columns)
            rows += len(features)
    log.info("validated %d rows × %d features over %d days", rows, len(columns or []), len(ctx["window"]))
    return {**ctx, "columns": columns, "rows": rows}


def quarantine_raw_day(layout: Any, exc: Any) -> Path | None:
    """Move the raw day holding the bad file (`exc.path`) to quarantine/{ds}/; None if it is no raw day's file."""
    from retrain.data.load import quarantine_day

    path = getattr(exc, "path", None)
    if path is None:
        return None
    day = Path(path).parent.name
    try:
        folder = layout.raw(day)
    except ValueError:
        return None
    if Path(path).parent != folder:
        return None
    return quarantine_day(layout, day, str(exc), [layout.raw_data(day), layout.raw_target(day)])


def split_data(ctx: dict) -> dict:
    """Stratified, seeded split: the holdout comes only from the fresh days the champion never saw."""
    from retrain.data.prepare import split_window, write_split
    from retrain.data.validate import check_trainable, validate_day

    settings, layout = settings_and_layout()
    with fail_fast_on_bad_input():
        frames = {
            day: validate_day(layout.raw_data(day), layout.raw_target(day), ctx["columns"]) for day in ctx["window"]
        }
        train, val = split_window(frames, ctx["fresh"], settings.holdout_fraction, settings.seed)
        check_trainable(train["target"], where="the training split")
        check_trainable(val["target"], where="the holdout split")
    train_path, val_path = write_split(layout, ctx["ds"], train, val)
    log.info("train %d rows, holdout %d rows", len(train), len(val))
    return {
        **ctx,
        "train_path": str(train_path),
        "val_path": str(val_path),
        "train_rows": len(train),
        "val_rows": len(val),
    }


def train_model(ctx: dict) -> dict:
    """Fit the configured estimator on the training split and log it to MLflow with its signature.

    A rerun of the same date with the same data and settings reuses the run it logged before (same
    fingerprint): training is seeded, so it would produce the same model, and reusing it keeps the
    registry free of duplicate versions.
    """
    from retrain.data.prepare import read_split
    from retrain.io import sha256_file
    from retrain.model.evaluate import all_metrics
    from retrain.model.train import build_estimator, fit

    settings, _ = settings_and_layout()
    registry = _registry(settings)
    fingerprint = _fingerprint(settings, sha256_file(ctx["train_path"]), sha256_file(ctx["val_path"]))
    reused = registry.find_run({"ds": ctx["ds"], "fingerprint": fingerprint})
    if reused is not None:
        log.info("reusing MLflow run %s: same date, data and settings were trained before", reused)
        return {**ctx, "run_id": reused, "reused_run": True}
    X, y, _ = read_split(ctx["train_path"])
    estimator = build_estimator(settings.estimator, settings.estimator_params, settings.seed)
    model = fit(estimator, X, y)
    train_metrics = {f"train_{k}": v for k, v in all_metrics(model, X, y).items()}
    run_id = registry.log_challenger(
        model,
        X.head(5),
        ds=ctx["ds"],
        params={
            "estimator": settings.estimator,
            **settings.estimator_params,
            "seed": settings.seed,
            "train_rows": ctx["train_rows"],
            "val_rows": ctx["val_rows"],
        },
        metrics=train_metrics,
        tags={
            "ds": ctx["ds"],
            "trigger": ctx["trigger"],
            "window_start": ctx["window"][0],
            "window_end": ctx["window"][-1],
            "fresh_days": ",".join(ctx["fresh"]),
            "fingerprint": fingerprint,
        },
        window=ctx["window"],
    )
    log.info("challenger logged as MLflow run %s", run_id)
    return {**ctx, "run_id": run_id, "reused_run": False}


def _fingerprint(settings: Any, train_sha: str, val_sha: str) -> str:
    import hashlib
    import json

    spec = {
        "estimator": settings.estimator,
        "params": settings.estimator_params,
        "seed": settings.seed,
        "train": train_sha,
        "val": val_sha,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def evaluate_model(ctx: dict) -> dict:
    """Score the challenger AND the current champion on the same holdout, so the gate compares like with like."""
    from retrain.data.prepare import read_split
    from retrain.model.evaluate import all_metrics, score

    settings, _ = settings_and_layout()
    registry = _registry(settings)
    X, y, _ = read_split(ctx["val_path"])
    challenger = registry.load_model(f"runs:/{ctx['run_id']}/model")
    result = {
        "metric": settings.metric,
        "challenger_score": score(challenger, X, y, settings.metric),
        "challenger_metrics": all_metrics(challenger, X, y),
        "champion_score": None,
        "champion_metrics": None,
    }
    probabilities = {"target": y.to_numpy()}
    probabilities.update(_proba_columns("challenger", challenger, X))
    if ctx["champion_version"] is not None:
        champion = registry.load_model(f"models:/{settings.model_name}/{ctx['champion_version']}")
        result["champion_score"] = score(champion, X, y, settings.metric)
        result["champion_metrics"] = all_metrics(champion, X, y)
        probabilities.update(_proba_columns("champion", champion, X))
    write_holdout_scores(layout_scores_path(ctx), probabilities)
    log.info(
        "%s on the holdout: challenger %.4f, champion (v%s) %s",
        settings.metric,
        result["challenger_score"],
        ctx["champion_version"],
        "none" if result["champion_score"] is None else f"{result['champion_score']:.4f}",
    )
    return {**ctx, **result}


def layout_scores_path(ctx: dict) -> Path:
    """Both models' holdout probabilities, beside the split: the report's curves are drawn from them."""
    return Path(ctx["val_path"]).with_name("holdout_scores.csv")


def _proba_columns(who: str, model: Any, X: Any) -> dict[str, Any]:
    proba = model.predict_proba(X[list(model.feature_names_in_)])
    return {f"{who}_{cls}": proba[:, i] for i, cls in enumerate(model.classes_)}


def write_holdout_scores(path: Path, columns: dict[str, Any]) -> None:
    import pandas as pd

    from retrain.io import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(columns).to_csv(tmp, index=False)


def write_report(ctx: dict, decision: dict, settings: Any, layout: Any, registry: Any) -> Path:
    """reports/{ds}/report.html: both models on the holdout, the gate, and the holdout's drift.

    The drift section compares the holdout days with the champion's training window (or, with no
    champion yet, with the training split), so each retrain shows what changed since the last one.
    """
    import numpy as np
    import pandas as pd

    from retrain.data.prepare import read_split
    from retrain.drift import assess_day, load_window, reference_days
    from retrain.report.html import build_report
    from retrain.report.html import write_report as write_html

    scores = pd.read_csv(layout_scores_path(ctx))
    challenger_cols = [c for c in scores.columns if c.startswith("challenger_")]
    classes = [c.removeprefix("challenger_") for c in challenger_cols]
    classes = [int(c) if c.lstrip("-").isdigit() else c for c in classes]
    champion_cols = [f"champion_{c}" for c in classes]
    X_val, _, _ = read_split(ctx["val_path"])
    if ctx["champion_version"] is not None:
        start, end = reference_days(registry.get(ctx["champion_version"]).tags)
        reference = load_window(layout, start, end, list(X_val.columns))
    else:
        reference, _, _ = read_split(ctx["train_path"])
    drift = assess_day(ctx["ds"], reference, X_val, settings)
    html = build_report(
        title=f"{settings.model_name}: retrain of {ctx['ds']} ({ctx['trigger']})",
        ds=ctx["ds"],
        metric=ctx["metric"],
        y_true=scores["target"].to_numpy(),
        challenger_proba=scores[challenger_cols].to_numpy(),
        champion_proba=scores[champion_cols].to_numpy() if set(champion_cols) <= set(scores.columns) else None,
        classes=list(np.asarray(classes)),
        decision=decision,
        drift=drift,
        reference=reference,
        current=X_val,
    )
    path = write_html(layout.report_file(ctx["ds"]), html)
    registry.log_artifact(ctx["run_id"], "report/report.html", path)
    return path


def decide_deploy(ctx: dict) -> str:
    """The gate: returns the branch to follow, after recording the decision in MLflow and the model card."""
    from retrain.model.gate import decide
    from retrain.records.card import write_card

    settings, layout = settings_and_layout()
    decision = decide(
        ctx["challenger_score"],
        ctx["champion_score"],
        threshold=settings.metric_threshold,
        min_improvement=settings.min_improvement,
        metric=settings.metric,
    )
    registry = _registry(settings)
    registry.record_decision(ctx["run_id"], decision, ctx["champion_version"])
    write_card(layout.models(ctx["ds"]), ctx=ctx, decision=decision.to_dict(), settings=settings)
    report = write_report(ctx, decision.to_dict(), settings, layout, registry)
    log.info("report: %s", report)
    for reason in decision.reasons:
        log.info("gate: %s", reason)
    log.info("gate decision: %s", "deploy" if decision.deploy else "skip")
    return "deploy_model" if decision.deploy else "skip_deploy"


def _evaluated(ti: Any) -> dict:
    ctx = ti.xcom_pull(task_ids="evaluate_model")
    if not ctx:
        raise RuntimeError("no result from evaluate_model in this run; rerun the whole retrain DAG for this date")
    return ctx


def _ledger_entry(ctx: dict, settings: Any, decision: dict, version: str | None) -> dict:
    return {
        "ds": ctx["ds"],
        "decision": "deploy" if decision["deploy"] else "skip",
        "trigger": ctx["trigger"],
        "metric": ctx["metric"],
        "challenger_score": ctx["challenger_score"],
        "champion_score": ctx["champion_score"],
        "champion_version": ctx["champion_version"],
        "threshold": settings.metric_threshold,
        "min_improvement": settings.min_improvement,
        "version": version,
        "label": settings.model_version,
        "reasons": decision["reasons"],
        "run_id": ctx["run_id"],
        "window": [ctx["window"][0], ctx["window"][-1]],
    }


def deploy_model(ti: Any) -> dict:
    """Register the challenger, move `champion` to it (compare-and-swap), finish the model card, record it."""
    from retrain.records import ledger
    from retrain.records.card import read_decision, write_model_ref
    from retrain.registry import StaleChampionError

    settings, layout = settings_and_layout()
    ctx = _evaluated(ti)
    decision = read_decision(layout.models(ctx["ds"]))
    registry = _registry(settings)
    version = registry.register(
        ctx["run_id"], ds=ctx["ds"], tags={"trigger": ctx["trigger"]}, label=settings.model_version
    )
    try:
        previous = registry.promote(
            version,
            expected_current=ctx["champion_version"],
            reason=f"retrain {ctx['ds']}: " + "; ".join(decision["reasons"]),
        )
    except StaleChampionError as exc:
        # Another deploy or a manual promote moved the champion after this challenger was compared
        # with it: the comparison no longer holds. Record the refusal and fail loudly (one alert).
        refused = {**decision, "reasons": [*decision["reasons"], f"deploy refused: {exc}"]}
        if ledger.find(settings.ledger_path, ds=ctx["ds"], run_id=ctx["run_id"], decision="skip") is None:
            ledger.append(settings.ledger_path, _ledger_entry(ctx, settings, {**refused, "deploy": False}, None))
        raise AirflowFailException(f"deploy of version {version} refused: {exc}") from exc
    write_model_ref(
        layout.models(ctx["ds"]),
        model_name=settings.model_name,
        version=version,
        previous_version=previous,
        run_id=ctx["run_id"],
    )
    entry = _ledger_entry(ctx, settings, decision, version)
    if ledger.find(settings.ledger_path, ds=ctx["ds"], run_id=ctx["run_id"], decision="deploy") is None:
        ledger.append(settings.ledger_path, entry)
    log.info("deployed %s version %s (previous champion %s)", settings.model_name, version, previous)
    return {
        "ds": ctx["ds"],
        "version": version,
        "previous_version": previous,
        "metric": ctx["metric"],
        "score": ctx["challenger_score"],
        "previous_score": ctx["champion_score"],
    }


def notify_success(deployed: dict) -> dict:
    """Tell the team about the deploy; a failing channel is reported, never undoes the deploy."""
    from retrain.notify import DeployMessage, already_sent, send

    settings, _ = settings_and_layout()
    message = DeployMessage(
        model_name=settings.model_name,
        version=deployed["version"],
        label=settings.model_version,
        metric=deployed["metric"],
        score=deployed["score"],
        threshold=settings.metric_threshold,
        previous_score=deployed["previous_score"],
        previous_version=deployed["previous_version"],
        ds=deployed["ds"],
    )
    outbox = settings.outbox_path
    if already_sent(outbox, message):
        log.info("this deploy message was already sent (a rerun of %s): not sending it twice", deployed["ds"])
        return {"channels": [], "already_sent": True}
    results = send(settings, message, logger=log, outbox=outbox)
    return {"channels": [{"channel": r.channel, "ok": r.ok, "attempts": r.attempts} for r in results]}


def skip_deploy(ti: Any) -> dict:
    """Record the skip with its reasons; the champion stays."""
    from retrain.records import ledger
    from retrain.records.card import read_decision

    settings, layout = settings_and_layout()
    ctx = _evaluated(ti)
    decision = read_decision(layout.models(ctx["ds"]))
    if ledger.find(settings.ledger_path, ds=ctx["ds"], run_id=ctx["run_id"], decision="skip") is None:
        ledger.append(settings.ledger_path, _ledger_entry(ctx, settings, decision, None))
    log.info("skipped deploy: %s", "; ".join(decision["reasons"]))
    return {"ds": ctx["ds"], "decision": "skip"}
