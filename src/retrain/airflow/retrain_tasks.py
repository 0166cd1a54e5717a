"""Task callables of the `retrain` DAG: each runs one step of `retrain.jobs.retrain.RetrainJob` or
`retrain.jobs.promote.PromotionJob` and passes a small dict on (`RetrainRun.to_dict()`, never a model
or a frame). Errors reach Airflow through `domain_errors`: bad input and configuration fail at once.
"""

from __future__ import annotations

from typing import Any

from retrain.airflow.context import settings_and_layout, trigger_of
from retrain.airflow.errors import domain_errors


def _retrain_job() -> Any:
    from retrain.jobs.retrain import RetrainJob

    settings, layout = settings_and_layout()
    return RetrainJob(settings, layout)


def _run(data: dict) -> Any:
    from retrain.jobs.retrain import RetrainRun

    return RetrainRun.from_dict(data)


def _evaluated(data: dict) -> Any:
    from retrain.jobs.retrain import Evaluated

    return Evaluated.from_dict(data)


def prepare_data(ds: str, dag_run: Any = None) -> dict:
    """The window, the holdout days and the champion to beat (pinned for reruns)."""
    with domain_errors():
        return _retrain_job().prepare(ds, trigger_of(dag_run)).to_dict()


def validate_data(run: dict) -> dict:
    """Every day of the window; a bad day fails at once and is quarantined."""
    job = _retrain_job()
    with domain_errors(quarantine=job.quarantine_bad_day):
        return job.validate(_run(run)).to_dict()


def split_data(run: dict) -> dict:
    """The stratified, seeded split; the holdout comes only from the holdout days."""
    with domain_errors():
        return _retrain_job().split(_run(run)).to_dict()


def train_model(run: dict) -> dict:
    """The challenger, logged to MLflow (or the identical run of an earlier attempt)."""
    with domain_errors():
        return _retrain_job().train(_run(run)).to_dict()


def evaluate_model(run: dict) -> dict:
    """Both models on the same holdout, the gate's decision, and its record (MLflow, card, report)."""
    with domain_errors():
        return _retrain_job().evaluate(_run(run)).to_dict()


def decide_deploy(evaluated: dict, deploy_task: str = "deploy_model") -> str:
    """The branch: the gate's decision, as the task to follow (`approve_deploy` when a person must approve)."""
    return deploy_task if evaluated["decision"]["deploy"] else "skip_deploy"


def deploy_model(evaluated: dict, approval: dict | None = None) -> dict:
    """Register, move `champion` by compare-and-swap, finish the card, record; a moved champion fails at once.

    `approval` is `approve_deploy`'s answer when a person was asked (recorded with the deploy).
    """
    from retrain.airflow.approval import approval_of
    from retrain.jobs.promote import PromotionJob

    settings, layout = settings_and_layout()
    with domain_errors():
        return PromotionJob(settings, layout).deploy(_evaluated(evaluated), approval_of(approval)).to_dict()


def notify_success(deployed: dict) -> dict:
    """Tell the team about the deploy (once); a failing channel is reported, never undoes the deploy."""
    from retrain.jobs.promote import Deployed, announce_deploy

    settings, _ = settings_and_layout()
    return announce_deploy(settings, Deployed.from_dict(deployed))


def skip_deploy(evaluated: dict, approval: dict | None = None) -> dict:
    """Record the skip with its reasons (and, when a person was asked, who rejected it, or the timeout)."""
    from retrain.airflow.approval import approval_of

    with domain_errors():
        return _retrain_job().skip(_evaluated(evaluated), approval_of(approval))
