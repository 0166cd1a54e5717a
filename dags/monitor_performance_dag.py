"""
### monitor_performance

Runs when a day's labels land (the `retrain_labels` asset event, partitioned by the labelled day,
which may be days after its features). If the champion scored that day, its realised metric
(`RETRAIN_METRIC`, from `predictions/{ds}/predictions.csv` and the labels) is recorded in the ledger
(`retrain status`: `performance`). Below `RETRAIN_METRIC_THRESHOLD` on
`RETRAIN_PERFORMANCE_CONSECUTIVE_DAYS` labelled days in a row, outside the
`RETRAIN_PERFORMANCE_COOLDOWN_DAYS` cooldown, it sends one alert and triggers a `retrain` run (conf
`trigger=performance`). `retrain run monitor_performance --date D` measures the labelled day D.

Tasks: `wait_for_labels` → `measure_performance` → `decide_retrain` → `alert_performance` →
`trigger_retrain` → `end`, or `decide_retrain` → `no_retrain` → `end`.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import PartitionedAssetTimetable, chain, dag, task

from retrain.airflow import defaults
from retrain.airflow import performance_tasks as t
from retrain.airflow.assets import LABELS, RUN_DAY


@dag(
    dag_id="monitor_performance",
    schedule=PartitionedAssetTimetable(assets=LABELS),
    doc_md=__doc__,
    **defaults.dag_kwargs(tags=["monitoring"]),
)
def monitor_performance() -> None:
    wait_for_labels = defaults.wait_for("wait_for_labels", "labels")
    result = task(task_id="measure_performance")(t.measure_performance)(day=RUN_DAY)
    decide = task.branch(task_id="decide_retrain")(t.decide_retrain)(result)
    alert = task(task_id="alert_performance")(t.alert_performance)(result)
    trigger_retrain = defaults.trigger_retrain("performance")
    no_retrain = EmptyOperator(task_id="no_retrain")
    end = EmptyOperator(task_id="end", trigger_rule="none_failed_min_one_success")

    chain(wait_for_labels, result)
    chain(decide, [alert, no_retrain])
    chain(alert, trigger_retrain, end)
    chain(no_retrain, end)


monitor_performance()
