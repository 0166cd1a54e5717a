"""Human approval of a deploy (`RETRAIN_APPROVAL=required`), with Airflow's human-in-the-loop operator.

`approve_deploy` sits between the gate and the deploy: `decide_deploy` follows it when the gate says
deploy; it asks the team (the message carries the challenger's interval and a link to the task's
"Required actions" page), and the task waits, holding no worker slot (Airflow 3.3 parks it in the
`awaiting_input` state), until an Airflow user answers in the UI or through the REST API
(`PATCH /api/v2/dags/retrain/dagRuns/{run_id}/taskInstances/approve_deploy/-1/hitlDetails`).
"Approve" follows `deploy_model`, "Reject" follows `skip_deploy`; with no answer within
`RETRAIN_APPROVAL_TIMEOUT` seconds Airflow answers "Reject" itself, for nobody (the default option).
The answer becomes a `retrain.jobs.retrain_run.Approval` (its XCom), which `deploy_model` or
`skip_deploy` records.

Who may answer is Airflow's decision: any user whose role may edit the DAG (the simple auth manager's
`user` role and above; with FAB, a role with "can edit" on DAG `retrain`), restricted to
`RETRAIN_APPROVERS` when set (Airflow's `assigned_users`).

A scheduler resolves timed-out requests; `dag.test()` (what `retrain run` uses) has no scheduler, so
`resolve_timeouts` runs the scheduler's own sweep beside it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator, HITLOperator
from airflow.sdk import BaseNotifier, Param

from retrain.settings import Settings, load_settings

log = logging.getLogger(__name__)

TASK_ID = "approve_deploy"
APPROVE, REJECT = "Approve", "Reject"
LOCAL_AIRFLOW_HOST = "127.0.0.1"  # where `retrain up` serves the UI (`retrain.ops.up`)
SWEEP_SECONDS = 1.0


def approval_required() -> bool:
    """Whether the `retrain` DAG asks a person before deploying (read when the DAG file is parsed)."""
    return load_settings().approval == "required"


def approval_from_event(event: dict[str, Any], timeout_seconds: int | None = None) -> Any:
    """The `Approval` in Airflow's human-in-the-loop resume event.

    Args:
        event: What `HITLOperator.execute_complete` receives: `chosen_options`, `params_input`
            (`comment`), `responded_at` (datetime or ISO string), `responded_by_user` (`{id, name}`, None
            when the timeout answered with the default) and `timedout`.
        timeout_seconds: The request's timeout, kept with a timed-out outcome.

    Returns:
        A `retrain.jobs.retrain_run.Approval`.
    """
    from retrain.jobs.retrain_run import Approval

    user = event.get("responded_by_user") or None
    at = event.get("responded_at")
    at = at.isoformat() if isinstance(at, datetime) else str(at)
    comment = str((event.get("params_input") or {}).get("comment") or "").strip() or None
    if event.get("timedout") or user is None:
        return Approval("timed_out", None, at, None, timeout_seconds)
    outcome = "approved" if list(event.get("chosen_options") or []) == [APPROVE] else "rejected"
    return Approval(outcome, str(user.get("name") or user.get("id")), at, comment, timeout_seconds)


def approval_url(context: Any, settings: Settings) -> str:
    """The approval task's "Required actions" page, as Airflow builds it for human-in-the-loop links.

    The base is `RETRAIN_AIRFLOW_URL`, else Airflow's `[api] base_url`, else the UI `retrain up` serves.
    """
    fallback = f"http://{LOCAL_AIRFLOW_HOST}:{settings.airflow_port}"
    try:
        return HITLOperator.generate_link_to_ui_from_context(context=context, base_url=settings.airflow_url)
    except ValueError:  # neither RETRAIN_AIRFLOW_URL nor [api] base_url is set
        return HITLOperator.generate_link_to_ui_from_context(context=context, base_url=fallback)


class ApprovalRequestNotifier(BaseNotifier):
    """Tells the team that a challenger awaits approval (called once the request is written)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from retrain.airflow.context import settings_and_layout
        from retrain.jobs.promote import request_approval
        from retrain.jobs.retrain_run import Evaluated

        task = context["task"]
        settings, _ = settings_and_layout()
        deadline = task.hitl_summary_extra.get("timeout_datetime") or ""
        with contextlib.suppress(ValueError):
            deadline = datetime.fromisoformat(deadline).replace(microsecond=0).isoformat()
        evaluated = Evaluated.from_dict(task.evaluated)
        request_approval(settings, evaluated, url=approval_url(context, settings), deadline=deadline)


class ApproveDeployOperator(HITLBranchOperator):
    """Asks "deploy this challenger?" in Airflow; "Approve" follows `deploy_model`, "Reject" `skip_deploy`.

    Its XCom (the return value) is the answer as `Approval.to_dict()`: who, when, their comment, or the
    timeout. `evaluated` (the evaluation's XCom) fills the question with the gate's numbers.
    """

    template_fields = (*HITLBranchOperator.template_fields, "evaluated")

    def __init__(self, *, evaluated: Any, deploy_task: str, skip_task: str, settings: Settings, **kwargs: Any) -> None:
        approvers = [{"id": user, "name": user} for user in settings.approvers]
        super().__init__(
            subject=f"Deploy the {settings.model_name} challenger?",
            options=[APPROVE, REJECT],
            options_mapping={APPROVE: deploy_task, REJECT: skip_task},
            defaults=[REJECT],  # what the timeout answers: no deploy without a person's yes
            params={
                "comment": Param(
                    "",
                    type="string",
                    title="Comment",
                    description="Why (recorded in the ledger, MLflow and the model card)",
                ),
            },
            notifiers=[ApprovalRequestNotifier()],
            assigned_users=approvers or None,
            response_timeout=timedelta(seconds=settings.approval_timeout),
            **kwargs,
        )
        self.evaluated = evaluated
        self.timeout_seconds = settings.approval_timeout

    def execute(self, context: Any) -> Any:
        """Write the question (subject and a Markdown body with the gate's numbers), notify, wait."""
        from retrain.jobs.retrain_run import Evaluated

        evaluated = Evaluated.from_dict(self.evaluated)
        run, decision = evaluated.run, evaluated.decision
        self.subject = f"Deploy the challenger of {run.ds} (trigger {run.trigger})?"
        self.body = "\n".join(
            [
                f"The gate accepted the challenger (MLflow run `{run.run_id}`) against champion "
                f"version {run.champion_version or 'none'}:",
                "",
                *(f"- {reason}" for reason in decision.reasons),
                "",
                f"Without an answer within {self.timeout_seconds} s the deploy is skipped.",
            ]
        )
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Keep the answer as this task's XCom, then follow the chosen branch."""
        if "error" not in event:
            approval = approval_from_event(event, self.timeout_seconds)
            log.info("approval: %s", approval.reason())
            # Pushed before the branch: following a branch ends the task without a return value.
            context["ti"].xcom_push(key="return_value", value=approval.to_dict())
        return super().execute_complete(context, event)


def approve_deploy(evaluated: Any, *, deploy_task: str = "deploy_model", skip_task: str = "skip_deploy") -> Any:
    """The `approve_deploy` task of the `retrain` DAG, asking about `evaluated` (the evaluation's XCom)."""
    return ApproveDeployOperator(
        task_id=TASK_ID,
        evaluated=evaluated,
        deploy_task=deploy_task,
        skip_task=skip_task,
        settings=load_settings(),
    )


def approval_of(data: dict[str, Any] | None) -> Any:
    """The `Approval` in `approve_deploy`'s XCom, or None (no person asked: approval off, or the gate skipped)."""
    from retrain.jobs.retrain_run import Approval

    return None if not data else Approval.from_dict(data)


def has_approval(dag: Any) -> bool:
    """Whether a DAG holds a human-in-the-loop task."""
    return any(isinstance(task, HITLOperator) for task in dag.tasks)


@contextlib.contextmanager
def resolve_timeouts(dag: Any) -> Iterator[None]:
    """While a `dag.test()` run of `dag` lasts, resolve its timed-out approvals as a scheduler would.

    `dag.test()` leaves a human-in-the-loop task waiting until an answer arrives; the timeout is the
    scheduler's job (`SchedulerJobRunner.check_awaiting_input_timeouts`, every
    `[scheduler] trigger_timeout_check_interval`), and there is no scheduler here. So a thread runs that
    same sweep every second: a request past its `response_timeout` is answered with its default
    ("Reject"), as in production. A DAG without such a task runs no thread.
    """
    if not has_approval(dag):
        yield
        return
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    # The sweep needs nothing of a running scheduler but its logger: no executors, no job row.
    sweeper = SchedulerJobRunner.__new__(SchedulerJobRunner)
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(SWEEP_SECONDS):
            try:
                sweeper.check_awaiting_input_timeouts()
            except Exception:  # a locked SQLite database: the next sweep tries again
                log.warning("approval timeout sweep failed; retrying", exc_info=True)

    thread = threading.Thread(target=sweep, name="approval-timeouts", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
