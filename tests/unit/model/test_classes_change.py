"""Classes that appear or disappear: both models scored on the holdout's label set, never a crash."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from retrain.model.evaluate import METRICS, all_metrics, score, undefined_reason
from retrain.model.gate import decide
from retrain.model.train import build_estimator, fit

HGB = "sklearn.ensemble.HistGradientBoostingClassifier"


def _data(classes: list[int], n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    y = pd.Series(rng.choice(classes, size=n))
    X = pd.DataFrame({"a": y + rng.normal(scale=0.3, size=n), "b": rng.normal(size=n)})
    return X, y


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "precision", "recall", "average_precision"])
def test_new_class_in_newer_days(metric: str) -> None:
    # given a binary champion and a challenger trained after a class 2 appeared
    champion = fit(build_estimator(HGB, {"max_iter": 20}, 0), *_data([0, 1]))
    challenger = fit(build_estimator(HGB, {"max_iter": 20}, 0), *_data([0, 1, 2], seed=1))
    X, y = _data([0, 1, 2], seed=2)
    # when both are scored on the holdout that holds the new class
    champ, chall = score(champion, X, y, metric), score(challenger, X, y, metric)
    # then both scores are numbers and the gate decides
    assert math.isfinite(champ) and math.isfinite(chall)
    assert chall > champ  # the champion never predicts the new class
    assert decide(chall, champ, threshold=0.5, min_improvement=0.0, metric=metric).decision == "deploy"


@pytest.mark.parametrize("metric", ["roc_auc", "f1"])
def test_class_absent_from_the_holdout(metric: str) -> None:
    # given models that know classes 0, 1, 2 and a holdout without class 2
    champion = fit(build_estimator(HGB, {"max_iter": 20}, 0), *_data([0, 1, 2]))
    challenger = fit(build_estimator(HGB, {"max_iter": 20}, 1), *_data([0, 1, 2], seed=1))
    X, y = _data([0, 1], seed=2)
    champ, chall = score(champion, X, y, metric), score(challenger, X, y, metric)
    assert math.isfinite(champ) and math.isfinite(chall)
    assert decide(chall, champ, threshold=0.5, min_improvement=0.0, metric=metric).decision in ("deploy", "skip")


def test_single_class_holdout_is_null_with_a_reason() -> None:
    model = fit(build_estimator(HGB, {"max_iter": 20}, 0), *_data([0, 1, 2]))
    X, y = _data([1], seed=2)
    metrics = all_metrics(model, X, y)
    assert set(metrics) == set(METRICS)
    assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["average_precision"])
    assert math.isfinite(metrics["f1"]) and math.isfinite(metrics["accuracy"])
    assert "only 1" in (undefined_reason("roc_auc", y) or "")
    assert undefined_reason("f1", y) is None
    decision = decide(metrics["roc_auc"], 0.9, threshold=0.5, min_improvement=0.0, metric="roc_auc")
    assert decision.decision == "skip"
    assert decision.to_dict()["challenger_score"] is None  # null, never NaN, in JSON


def test_string_labels_binary_positive_is_the_models_second_class() -> None:
    X, y = _data([0, 1])
    labels = y.map({0: "no", 1: "yes"})
    model = fit(build_estimator(HGB, {"max_iter": 20}, 0), X, labels)
    assert list(model.classes_) == ["no", "yes"]
    assert score(model, X, labels, "f1") == pytest.approx(
        score(fit(build_estimator(HGB, {"max_iter": 20}, 0), X, y), X, y, "f1")
    )
    assert score(model, X, labels, "roc_auc") > 0.9
