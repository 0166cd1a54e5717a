"""
### retrain

Weekly (and on demand, on drift, on a drop of the realised metric): train a challenger on the last
`RETRAIN_WINDOW_DAYS` labelled days (days whose labels have not arrived are left out), score it
**and the current champion on the same fresh holdout**, and let the gate decide. A window with no
labelled day newer than the champion's ends at once in `prepare_data`, recorded as a skip ("no new
labelled data since version N"), before any training.

`deploy_model` registers the version in MLflow and moves the `champion` alias (compare-and-swap;
the previous champion is kept and tagged), `notify_success` tells the team. `skip_deploy` records
the reasons and keeps the champion. The decision, both scores and the reasons are in MLflow, in
`models/{ds}/` and in `retrain status`.

`evaluate_model` scores both models, applies the gate and records its decision; `decide_deploy` only
follows it; `deploy_model` and `skip_deploy` take the evaluation as their input.

With `RETRAIN_APPROVAL=required`, a deploy the gate accepts waits for a person: `decide_deploy` follows
`approve_deploy` (Airflow's human-in-the-loop approval, answered on the task's "Required actions" page),
which follows `deploy_model` on "Approve" and `skip_deploy` on "Reject" or after
`RETRAIN_APPROVAL_TIMEOUT` seconds without an answer; both record who decided, when, and why. With the
default `none` the task does not exist and the DAG is the automatic one.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import chain, dag, task

from retrain.airflow import defaults
from retrain.airflow import retrain_tasks as t
from retrain.airflow.approval import approval_required, approve_deploy
from retrain.airflow.isolation import isolated


@dag(dag_id="retrain", schedule="@weekly", max_active_runs=1, doc_md=__doc__, **defaults.dag_kwargs(tags=["training"]))
def retrain() -> None:
    wait_for_data = defaults.wait_for("wait_for_data", "features")
    prepared = task(task_id="prepare_data")(t.prepare_data)()
    validated = task(task_id="validate_data")(t.validate_data)(prepared)
    split = task(task_id="split_data")(t.split_data)(validated)
    trained = isolated("train", t.train_model, task_id="train_model")(split)
    evaluated = task(task_id="evaluate_model")(t.evaluate_model)(trained)
    approve = approve_deploy(evaluated) if approval_required() else None
    decide_deploy = task.branch(task_id="decide_deploy")(t.decide_deploy)(
        evaluated, approve.task_id if approve else "deploy_model"
    )
    approval = approve.output if approve else None  # the person's answer (None: nobody was asked)
    deployed = task(task_id="deploy_model")(t.deploy_model)(evaluated, approval)
    notify_success = task(task_id="notify_success")(t.notify_success)(deployed)
    # After an approval, skip_deploy joins two branches: the gate's skip and the person's "Reject".
    join = "none_failed_min_one_success" if approve else "all_success"
    skip_deploy = task(task_id="skip_deploy", trigger_rule=join)(t.skip_deploy)(evaluated, approval)
    end = EmptyOperator(task_id="end", trigger_rule="none_failed_min_one_success")

    chain(wait_for_data, prepared)
    chain(decide_deploy, [approve or deployed, skip_deploy])
    if approve:
        chain(approve, [deployed, skip_deploy])
    chain(notify_success, end)
    chain(skip_deploy, end)


retrain()
