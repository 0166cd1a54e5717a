"""batch_predict for real: mapped batches merged in input order, with one pinned model version."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retrain.layout import Layout
from retrain.registry import Registry
from retrain.registry.cached import CachedRegistry
from retrain.settings import load_settings
from tests.integration.conftest import champion_and_a_spare_version, days

pytestmark = pytest.mark.integration


def test_no_champion_fails_with_a_clear_message_and_no_file(runner) -> None:  # type: ignore[no-untyped-def]
    assert runner.run("generate_data", "2025-12-01").ok
    result = runner.run("batch_predict", "2025-12-01")
    assert not result.ok
    assert result.tasks["resolve_model"] == "failed"
    assert not Layout(load_settings().data_dir).predictions_file("2025-12-01").exists()


def test_mapped_batches_merge_in_order_with_the_pinned_version(runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: a champion (v1) and a second registered version (v2) that is not champion yet
    monkeypatch.setenv("RETRAIN_ROWS_PER_DAY", "1000")
    timeline = days("2025-12-01", 8)
    v2 = champion_and_a_spare_version(runner, monkeypatch, timeline)
    settings = load_settings()
    registry = Registry.from_settings(settings)
    assert registry.champion().version == "1"

    # and: batches of 300 rows (1000 rows: 4 batches, the last one short), and a promotion to v2
    # that lands while the first batch is being scored
    monkeypatch.setenv("RETRAIN_BATCH_ROWS", "300")
    original_load = CachedRegistry.load_model  # what the job loads through (the model cache, then MLflow)
    promoted: list[str] = []

    def load_and_promote_meanwhile(self, uri):  # type: ignore[no-untyped-def]
        if not promoted:
            promoted.append(self.registry.promote(v2, expected_current="1", reason="concurrent promotion (test)") or "")
        return original_load(self, uri)

    monkeypatch.setattr(CachedRegistry, "load_model", load_and_promote_meanwhile)

    # when
    ds = timeline[7]
    result = runner.run("batch_predict", ds)

    # then: four mapped batches, every row scored by v1 (pinned), in input order
    assert result.ok, result.tasks
    mapped = sorted(k for k in result.tasks if k.startswith("predict_batch["))
    assert mapped == [f"predict_batch[{i}]" for i in range(4)]
    assert registry.champion().version == v2, "the promotion did happen during the run"
    layout = Layout(settings.data_dir)
    predictions = pd.read_csv(layout.predictions_file(ds))
    assert list(predictions.columns) == ["row", "prediction", "probability", "model_version"]
    assert predictions["row"].tolist() == list(range(1000))
    assert set(predictions["model_version"].astype(str)) == {"1"}
    meta = json.loads(layout.predictions_meta(ds).read_text())
    assert meta["model_version"] == "1"
    assert meta["rows"] == 1000
    assert meta["batches"] == 4
    assert not layout.prediction_parts(ds).exists()

    # and: the scores equal the model's own predict_proba, row for row
    monkeypatch.setattr(CachedRegistry, "load_model", original_load)
    model = registry.load_model(f"models:/{settings.model_name}/1")
    features = pd.read_csv(layout.raw_data(ds))
    expected = model.predict_proba(features[list(model.feature_names_in_)])[:, 1]
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected, rtol=0, atol=1e-6)
    assert (predictions["prediction"].to_numpy() == model.predict(features[list(model.feature_names_in_)])).all()
