"""Task callables of the `batch_predict` DAG: each one step of `retrain.jobs.predict.PredictJob`.

The model is resolved ONCE per run and pinned as a concrete registry version (`models:/name/3`), so a
promotion in the middle of a run cannot mix two models in one day's predictions. XCom carries the
job's small dataclasses as dicts. `day` is the run's day (`retrain.airflow.assets.RUN_DAY`: the
partition key of an asset-triggered run, else the logical date).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.sdk.exceptions import AirflowFailException

from retrain.airflow.context import fail_fast_on_bad_input, settings_and_layout

MODEL_URI_VARIABLE = "retrain_model_uri"
"""Airflow Variable that, when set, names the model URI to score with instead of the champion."""


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """Errors a retry cannot fix fail the task at once: bad data, no model, a refused model, bad values."""
    from retrain.jobs.predict import PredictError
    from retrain.scoring import MixedModelsError, ScoringInputError

    with fail_fast_on_bad_input():
        try:
            yield
        except (PredictError, ScoringInputError, MixedModelsError) as exc:
            raise AirflowFailException(str(exc)) from exc


def _job():  # type: ignore[no-untyped-def]
    from retrain.jobs.predict import PredictJob

    settings, _ = settings_and_layout()
    return PredictJob.from_settings(settings)


def resolve_model(day: str) -> dict:
    """The Variable `retrain_model_uri` if set, else the champion, pinned to its version."""
    from airflow.sdk import Variable

    with _fail_fast():
        return _job().resolve_model(day, Variable.get(MODEL_URI_VARIABLE, default=None)).to_dict()


def list_batches(model: dict, day: str) -> list[dict]:
    """Check the whole day, then split it into row ranges; each becomes one mapped `predict_batch`."""
    from retrain.jobs.predict import PinnedModel

    with _fail_fast():
        return [batch.to_dict() for batch in _job().list_batches(PinnedModel.from_dict(model), day)]


def predict_batch(batch: dict, day: str) -> dict:
    """Score one row range with the pinned model into a part file."""
    from retrain.jobs.predict import Batch

    with _fail_fast():
        return _job().score_batch(Batch.from_dict(batch), day).to_dict()


def merge_predictions(results: list[dict], day: str) -> dict:
    """Merge the parts in input order into predictions/{ds}/predictions.csv, atomically, plus _meta.json."""
    from retrain.jobs.predict import ScoredBatch

    with _fail_fast():
        return _job().merge([ScoredBatch.from_dict(r) for r in results], day).to_dict()
