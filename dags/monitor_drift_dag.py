"""
### monitor_drift

Runs as soon as a day's features land (the `retrain_features` asset event, partitioned by day) and
compares them with the champion's training window (PSI and the KS statistic per feature: effect
sizes, not p-values). A drift sustained over `RETRAIN_DRIFT_CONSECUTIVE_DAYS` days, outside the
`RETRAIN_DRIFT_COOLDOWN_DAYS` cooldown, sends one alert and triggers a `retrain` run (conf
`trigger=drift`). Every assessed day is recorded in the ledger with its per-feature statistics
(`retrain status --json`: `drift_events`). `retrain run monitor_drift --date D` runs it for day D.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import PartitionedAssetTimetable, chain, dag, task

from retrain.airflow import defaults
from retrain.airflow import drift_tasks as t
from retrain.airflow.assets import FEATURES, RUN_DAY


@dag(
    dag_id="monitor_drift",
    schedule=PartitionedAssetTimetable(assets=FEATURES),
    doc_md=__doc__,
    **defaults.dag_kwargs(tags=["monitoring"]),
)
def monitor_drift() -> None:
    wait_for_data = defaults.wait_for("wait_for_data", "features")
    result = task(task_id="detect_drift")(t.detect_drift)(day=RUN_DAY)
    decide = task.branch(task_id="decide_retrain")(t.decide_retrain)(result)
    alert = task(task_id="alert_drift")(t.alert_drift)(result)
    trigger_retrain = defaults.trigger_retrain("drift")
    no_drift = EmptyOperator(task_id="no_drift")
    end = EmptyOperator(task_id="end", trigger_rule="none_failed_min_one_success")

    chain(wait_for_data, result)
    chain(decide, [alert, no_drift])
    chain(alert, trigger_retrain, end)
    chain(no_drift, end)


monitor_drift()
