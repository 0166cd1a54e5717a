"""The batch-scoring job without Airflow: pinned model, checked day, ordered merge, refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from tests.unit.jobs.conftest import LATER, ChampionHome, build_home

from retrain.data.errors import DataValidationError
from retrain.jobs.predict import (
    Batch,
    NoChampionError,
    PinnedModel,
    PredictJob,
    RefusedModelError,
    ScoredBatch,
    check_day,
)
from retrain.scoring import MixedModelsError


@pytest.fixture(scope="module")
def home(clean_env) -> ChampionHome:  # type: ignore[no-untyped-def]
    return build_home(clean_env)


@pytest.fixture
def job(home: ChampionHome) -> PredictJob:
    return PredictJob(home.settings, home.layout, home.registry)


def test_a_day_is_scored_in_order_by_the_pinned_champion(job: PredictJob, home: ChampionHome) -> None:
    # given: the champion and a landed day of 300 rows, batches of 128 rows
    ds = LATER[0]
    # when: every step runs in this process
    model = job.resolve_model(ds)
    batches = job.list_batches(model, ds)
    scored = [job.score_batch(b, ds) for b in reversed(batches)]  # mapped tasks finish in any order
    day = job.merge(scored, ds)
    # then: the champion was pinned, three batches cover the day, the file is in input order
    assert model == PinnedModel(f"models:/{home.settings.model_name}/{home.version}", home.version, "champion")
    assert [(b.start, b.stop) for b in batches] == [(0, 128), (128, 256), (256, 300)]
    assert (day.rows, day.model_version) == (300, home.version)
    predictions = pd.read_csv(day.predictions, dtype={"model_version": str})
    assert predictions["row"].tolist() == list(range(300))
    assert set(predictions["model_version"]) == {home.version}
    expected = job.load(model.model_uri).predict_proba(pd.read_csv(home.layout.raw_data(ds))[home.columns])[:, 1]
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected, rtol=0, atol=1e-9)
    # and: _meta.json beside it, the parts gone
    meta = json.loads(home.layout.predictions_meta(ds).read_text())
    assert (meta["model_version"], meta["rows"], meta["batches"]) == (home.version, 300, 3)
    assert not home.layout.prediction_parts(ds).exists()


def test_run_equals_the_steps_and_xcom_dicts_round_trip(job: PredictJob, home: ChampionHome) -> None:
    ds = LATER[1]
    day = job.run(ds)
    assert day.rows == 300
    batch = job.list_batches(job.resolve_model(ds), ds)[0]
    assert Batch.from_dict(batch.to_dict()) == batch
    assert set(batch.to_dict()) == {"index", "start", "stop", "model_uri", "version", "source"}
    scored = job.score_batch(batch, ds)
    assert ScoredBatch.from_dict({**scored.to_dict(), "extra": 1}) == scored


def test_an_explicit_model_uri_is_used_with_its_version(job: PredictJob, home: ChampionHome) -> None:
    uri = f"models:/{home.settings.model_name}/{home.version}"
    assert job.resolve_model(LATER[0], uri) == PinnedModel(uri, home.version, "variable")
    assert job.resolve_model(LATER[0], "runs:/abc/model").version == "runs:/abc/model"


def test_no_champion_is_refused_with_what_to_do(home: ChampionHome) -> None:
    class NoChampion:
        def champion(self) -> None:
            return None

    job = PredictJob(home.settings, home.layout, NoChampion())  # type: ignore[arg-type]
    with pytest.raises(NoChampionError, match=r"no champion .* run the retrain DAG first"):
        job.resolve_model(LATER[0])


def test_a_tampered_model_is_refused(home: ChampionHome) -> None:
    from retrain.registry import TamperedModelError

    class Tampered:
        def load_model(self, uri: str) -> None:
            raise TamperedModelError("the artifact was modified")

    job = PredictJob(home.settings, home.layout, Tampered())  # type: ignore[arg-type]
    with pytest.raises(RefusedModelError, match="refusing to score with models:/m/1: the artifact was modified"):
        job.load("models:/m/1")


def test_a_bad_day_is_quarantined_before_any_batch(home: ChampionHome) -> None:
    # given: a day with a text value in a feature column
    ds = LATER[2]
    frame = pd.read_csv(home.layout.raw_data(ds))
    frame[home.columns[1]] = frame[home.columns[1]].astype(object)
    frame.loc[5, home.columns[1]] = "abc"
    frame.to_csv(home.layout.raw_data(ds), index=False)
    # when / then: refused, naming file, column and row, and the day moved to quarantine
    with pytest.raises(DataValidationError) as caught:
        check_day(home.layout, ds, home.columns, 128)
    message = str(caught.value)
    assert "data.csv" in message and repr(home.columns[1]) in message and "row 5 " in message
    assert message.endswith(f"(the day was quarantined to {home.layout.quarantine(ds)})")
    assert caught.value.column == home.columns[1] and caught.value.row == 5
    assert not home.layout.raw_data(ds).exists()
    assert (home.layout.quarantine(ds) / "reason.txt").is_file()


def test_parts_of_two_versions_are_never_merged(job: PredictJob, home: ChampionHome) -> None:
    ds = LATER[3]
    batches = job.list_batches(job.resolve_model(ds), ds)
    scored = [job.score_batch(b, ds) for b in batches]
    mixed = [scored[0], replace(scored[1], version="99"), *scored[2:]]
    with pytest.raises(MixedModelsError, match="different models"):
        job.merge(mixed, ds)
    assert not home.layout.predictions_file(ds).exists()
