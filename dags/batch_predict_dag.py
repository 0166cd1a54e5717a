"""
### batch_predict

Scores a day as soon as its features land (the `retrain_features` asset event of `generate_data`,
partitioned by day; labels are not needed) into `predictions/{ds}/predictions.csv`
(`row, prediction, probability, model_version`, one row per input row, in input order).

`wait_for_data` checks the day's `data.csv` (deferred to the triggerer if it is not there yet; a day
in `quarantine/` fails at once), `resolve_model` pins the model ONCE per run (the `champion` alias, or
the Airflow Variable `retrain_model_uri`), `list_batches` splits the day into row ranges of
`RETRAIN_BATCH_ROWS`, `predict_batch` scores them in parallel (dynamic task mapping, bounded memory:
pyarrow streaming), and `merge_predictions` joins them in order and writes the file atomically with
`_meta.json`. `retrain run batch_predict --date D` runs it for day D.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, chain, dag, task

from retrain.airflow import defaults
from retrain.airflow import predict_tasks as t
from retrain.airflow.assets import FEATURES, PREDICTIONS, RUN_DAY
from retrain.airflow.isolation import isolated


@dag(
    dag_id="batch_predict",
    schedule=PartitionedAssetTimetable(assets=FEATURES),
    doc_md=__doc__,
    **defaults.dag_kwargs(tags=["scoring"]),
)
def batch_predict() -> None:
    wait_for_data = defaults.wait_for("wait_for_data", "features")
    model = task(task_id="resolve_model")(t.resolve_model)(day=RUN_DAY)
    batches = task(task_id="list_batches")(t.list_batches)(model, day=RUN_DAY)
    scored = isolated("score", t.predict_batch, task_id="predict_batch").partial(day=RUN_DAY).expand(batch=batches)
    task(task_id="merge_predictions", outlets=[PREDICTIONS])(t.merge_predictions)(scored, day=RUN_DAY)
    chain(wait_for_data, model)


batch_predict()
