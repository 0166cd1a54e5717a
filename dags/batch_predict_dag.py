"""
### batch_predict

Every day the champion scores the new data into `predictions/{ds}/predictions.csv`
(`row, prediction, probability, model_version`, one row per input row, in input order).

`resolve_model` pins the model ONCE per run (the `champion` alias, or the Airflow Variable
`retrain_model_uri`), `list_batches` splits the day into row ranges of `RETRAIN_BATCH_ROWS`,
`predict_batch` scores them in parallel (dynamic task mapping, bounded memory: pyarrow streaming),
and `merge_predictions` joins them in order and writes the file atomically with `_meta.json`.
"""

from __future__ import annotations

from airflow.sdk import chain, dag, task

from retrain.airflow import defaults
from retrain.airflow import predict_tasks as t
from retrain.airflow.assets import PREDICTIONS
from retrain.airflow.isolation import isolated


@dag(dag_id="batch_predict", schedule="@daily", doc_md=__doc__, **defaults.dag_kwargs(tags=["scoring"]))
def batch_predict() -> None:
    wait_for_data = task.sensor(task_id="wait_for_data", **defaults.sensor_kwargs())(t.data_has_landed)()
    model = task(task_id="resolve_model")(t.resolve_model)()
    batches = task(task_id="list_batches")(t.list_batches)(model)
    scored = isolated("score", t.predict_batch, task_id="predict_batch").expand(batch=batches)
    task(task_id="merge_predictions", outlets=[PREDICTIONS])(t.merge_predictions)(scored)
    chain(wait_for_data, model)


batch_predict()
