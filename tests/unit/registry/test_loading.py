"""Verified loading: only untampered models made of allowed types load; unverified ones only when allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from retrain.registry import (
    Registry,
    TamperedModelError,
    UntrustedModelError,
    skops_trusted_types,
)


def test_load_model_round_trip(registry: Registry, logreg: Any, hgb: Any, data: Any, new_version: Any) -> None:
    # given a linear model and a HistGradientBoosting model (needs skops trusted types)
    X, _ = data
    for model, ds in ((logreg, "2025-12-01"), (hgb, "2025-12-08")):
        version = new_version(model, X, ds)
        # when loaded by ref and by URIs / then it predicts exactly as the original
        ref = registry.get(version)
        for target in (ref, f"models:/{registry.model_name}/{version}", f"runs:/{ref.run_id}/model"):
            loaded = registry.load_model(target)
            assert type(loaded) is type(model)
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    registry.promote("2", expected_current=None, reason="hgb")
    loaded = registry.load_model(f"models:/{registry.model_name}@champion")
    assert isinstance(loaded, HistGradientBoostingClassifier)


def _model_file(registry: Registry, version: str) -> Path:
    run = registry.client.get_run(registry.get(version).run_id)
    location = registry.client.get_logged_model(run.data.tags["model_id"]).artifact_location
    return Path(location.removeprefix("file://")) / "model.skops"


def test_tampered_model_is_refused(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    # given a registered model whose saved file is modified afterwards
    version = new_version(logreg, data[0], "2025-12-01")
    path = _model_file(registry, version)
    assert path.is_file()
    with open(path, "ab") as handle:
        handle.write(b"\0")
    # when loading it / then it is refused, naming the problem
    with pytest.raises(TamperedModelError, match="SHA-256"):
        registry.load_model(registry.get(version))
    with pytest.raises(TamperedModelError):
        registry.load_model(f"models:/{registry.model_name}/{version}")
    with pytest.raises(TamperedModelError):
        registry.load_model(f"runs:/{registry.get(version).run_id}/model")


def _custom_feature(X: Any) -> Any:
    return X


def test_untrusted_types_are_refused(data: Any) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = data
    assert skops_trusted_types(LogisticRegression().fit(X, y)) == []
    assert skops_trusted_types(HistGradientBoostingClassifier(max_iter=2).fit(X, y)) == [
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    ]
    pipeline = make_pipeline(FunctionTransformer(_custom_feature), LogisticRegression()).fit(X, y)
    with pytest.raises(UntrustedModelError, match="_custom_feature"):
        skops_trusted_types(pipeline)
