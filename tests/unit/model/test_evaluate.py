"""Holdout metrics agree with sklearn.metrics, use predict_proba alone (predictions: its argmax), columns by name."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from retrain.model.evaluate import METRICS, all_metrics, score


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=["f0", "f1", "f2", "f3"])


class _OnlyPredict:
    """A model that exposes nothing but what the evaluator may use."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        assert isinstance(X, pd.DataFrame)
        assert list(X.columns) == list(self.feature_names_in_)
        return self._model.predict(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        assert isinstance(X, pd.DataFrame)
        assert list(X.columns) == list(self.feature_names_in_)
        return self._model.predict_proba(X)


@pytest.fixture(scope="module")
def binary() -> tuple[Any, pd.DataFrame, np.ndarray]:
    X = _frame()
    rng = np.random.default_rng(1)
    y = np.where(X["f0"] + rng.normal(scale=0.8, size=len(X)) > 0, "yes", "no")  # string labels
    model = LogisticRegression(random_state=0).fit(X.iloc[:120], y[:120])
    return model, X.iloc[120:], y[120:]


@pytest.fixture(scope="module")
def multiclass() -> tuple[Any, pd.DataFrame, np.ndarray]:
    X = _frame(seed=2)
    rng = np.random.default_rng(3)
    y = np.digitize(X["f0"] + X["f1"] + rng.normal(scale=0.7, size=len(X)), [-0.7, 0.7])
    model = LogisticRegression(random_state=0).fit(X.iloc[:120], y[:120])
    return model, X.iloc[120:], y[120:]


def test_binary_metrics_match_sklearn(binary: tuple[Any, pd.DataFrame, np.ndarray]) -> None:
    # given a fitted binary model with string labels ("yes" is the positive class, classes_[1])
    model, X, y = binary
    proba = model.predict_proba(X)[:, 1]
    pred = model.predict(X)
    expected = {
        "roc_auc": skm.roc_auc_score(y == "yes", proba),
        "average_precision": skm.average_precision_score(y == "yes", proba),
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred, pos_label="yes"),
        "precision": skm.precision_score(y, pred, pos_label="yes"),
        "recall": skm.recall_score(y, pred, pos_label="yes"),
    }
    # when scored / then every metric matches sklearn's own computation
    got = all_metrics(_OnlyPredict(model), X, y)
    assert set(got) == set(METRICS)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
        assert score(model, X, y, name) == pytest.approx(value, abs=1e-12), name
    assert 0.5 < got["roc_auc"] <= 1.0


def test_multiclass_metrics_match_sklearn(multiclass: tuple[Any, pd.DataFrame, np.ndarray]) -> None:
    model, X, y = multiclass
    proba = model.predict_proba(X)
    pred = model.predict(X)
    got = all_metrics(_OnlyPredict(model), X, y)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    y_bin = np.stack([(y == c) for c in model.classes_], axis=1).astype(int)
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(y_bin, proba, average="macro"))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))


def test_columns_are_selected_by_name(binary: tuple[Any, pd.DataFrame, np.ndarray]) -> None:
    # given the holdout with its columns shuffled and an extra column
    model, X, y = binary
    shuffled = X[["f3", "f1", "f0", "f2"]].assign(extra=1.0)
    # then the score is the same as with the original order
    assert score(model, shuffled, y, "roc_auc") == score(model, X, y, "roc_auc")
    with pytest.raises(ValueError, match="f2"):
        score(model, X.drop(columns="f2"), y, "accuracy")


def test_single_class_holdout_gives_nan_ranking_metrics(binary: tuple[Any, pd.DataFrame, np.ndarray]) -> None:
    model, X, _ = binary
    y = np.full(len(X), "yes")
    assert math.isnan(score(model, X, y, "roc_auc"))
    assert math.isnan(score(model, X, y, "average_precision"))
    assert 0.0 <= score(model, X, y, "accuracy") <= 1.0


def test_unknown_metric_is_refused(binary: tuple[Any, pd.DataFrame, np.ndarray]) -> None:
    model, X, y = binary
    with pytest.raises(ValueError, match="RETRAIN_METRIC"):
        score(model, X, y, "log_loss")


class _CountingProba(_OnlyPredict):
    """Counts `predict_proba` calls; `predict` disagrees with the argmax so a call to it would show."""

    calls = 0

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        return super().predict_proba(X)


def test_all_metrics_walk_the_model_once_and_predict_the_argmax(
    binary: tuple[Any, pd.DataFrame, np.ndarray],
) -> None:
    # given a model whose `predict` always says the first class
    model, X, y = binary
    counting = _CountingProba(model)

    # when every metric is computed
    scores = all_metrics(counting, X, y)

    # then predict_proba ran once and the labels are its argmax (what the scored files say), not predict's
    assert counting.calls == 1
    argmax = model.classes_[model.predict_proba(X).argmax(axis=1)]
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y, argmax))
    assert scores["accuracy"] != pytest.approx(skm.accuracy_score(y, np.full(len(y), model.classes_[0])))
