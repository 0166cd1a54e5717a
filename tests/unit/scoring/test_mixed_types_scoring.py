"""The streaming scorer on a model that takes text, booleans and missing values: the same answers as the model.

A model trained on typed columns (`retrain.model.preprocess`) is scored from DataFrames of typed columns
(`retrain.scoring.checks.to_frame`), CSV or Parquet, in bounded batches: its probabilities equal its own
`predict_proba` on the raw rows read by pandas; a category never seen in training is scored, not refused;
ONNX falls back to scikit-learn with the reason; a number column still refuses a word at its row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.model.train import build_estimator, fit
from retrain.scoring import ScoringInputError
from retrain.scoring.engine import feature_kinds, score_file


def _raw_penguins() -> tuple[pd.DataFrame, pd.Series]:
    import palmerpenguins

    frame = palmerpenguins.load_penguins()
    frame["long_flippers"] = (frame["flipper_length_mm"] > 200).astype(object).where(frame["flipper_length_mm"].notna())
    return frame.drop(columns="species"), frame["species"]


@pytest.fixture(scope="module")
def penguins_model():  # type: ignore[no-untyped-def]
    X, y = _raw_penguins()
    return fit(build_estimator("sklearn.ensemble.HistGradientBoostingClassifier", {}, seed=0), X, y), X


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_mixed_types_score_like_the_model_itself_with_an_unseen_category(penguins_model, tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    model, X = penguins_model
    # given the raw rows, one island never seen in training, in a CSV or a Parquet file
    rows = X.copy()
    rows.loc[3, "island"] = "Atlantis"
    path = tmp_path / f"day{suffix}"
    rows.to_csv(path, index=False) if suffix == ".csv" else rows.to_parquet(path, index=False)
    # when the streaming scorer scores it in small batches, with ONNX asked for
    out = tmp_path / "scores.csv"
    stats = score_file(model, path, out, batch_rows=50, model_version="1", backend="onnx")
    # then every row is scored, with the model's own probabilities on the rows as pandas reads them
    assert feature_kinds(model) is not None and stats.backend == "sklearn" and "ONNX skipped" in stats.backend_note
    scores = pd.read_csv(out)
    raw = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    expected = model.predict_proba(raw)
    assert len(scores) == len(X) and scores["prediction"].tolist() == model.predict(raw).tolist()
    per_class = [f"probability_{c}" for c in model.classes_]
    np.testing.assert_allclose(scores[per_class].to_numpy(), expected, atol=1e-12)


def test_a_word_in_a_numeric_column_is_refused_at_its_row(penguins_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, X = penguins_model
    rows = X.astype({"year": object})
    rows.loc[120, "year"] = "twenty"
    path = tmp_path / "day.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(ScoringInputError) as caught:
        score_file(model, path, tmp_path / "out.csv", batch_rows=50, model_version="1")
    assert caught.value.column == "year" and caught.value.row == 120
