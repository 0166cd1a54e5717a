"""Metrics of a fitted classifier on a holdout.

The gate compares the challenger with the champion re-scored on the same holdout, so both must be
scored the same way: only through `predict` / `predict_proba`, with the features passed as a
DataFrame in the column order the model was fitted with (selected by name, so a reordered file or an
extra column never silently shifts features).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

METRICS: tuple[str, ...] = (
    "roc_auc",
    "accuracy",
    "f1",
    "precision",
    "recall",
    "balanced_accuracy",
    "average_precision",
)
_NEEDS_PROBA = frozenset({"roc_auc", "average_precision"})


def _features(model: Any, X: Any) -> Any:
    """The columns the model was fitted on, by name; a missing column is a clear error."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or not hasattr(X, "columns"):
        return X
    names = [str(n) for n in names]
    missing = [n for n in names if n not in X.columns]
    if missing:
        raise ValueError(f"the holdout lacks feature column(s) the model was trained on: {', '.join(missing)}")
    return X[names]


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; RETRAIN_METRIC accepts {', '.join(METRICS)}")


def metric_from_predictions(metric: str, y: Any, pred: Any, proba: Any, classes: Any) -> float:
    """One metric from labels, predicted labels and class probabilities (the report's curves use the same)."""
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.preprocessing import label_binarize

    binary = len(classes) == 2
    y_arr = np.asarray(y)
    if metric == "accuracy":
        return float(skm.accuracy_score(y_arr, pred))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_arr, pred))
    if metric in ("f1", "precision", "recall"):
        fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric]
        if binary:
            return float(fn(y_arr, pred, pos_label=classes[1], average="binary", zero_division=0))
        return float(fn(y_arr, pred, labels=list(classes), average="macro", zero_division=0))

    # Ranking metrics are undefined when the holdout holds a single class: NaN, which never deploys.
    if len(np.unique(y_arr)) < 2:
        return math.nan
    if binary:
        positive = proba[:, 1]
        y_pos = (y_arr == classes[1]).astype(int)
        if metric == "roc_auc":
            return float(skm.roc_auc_score(y_pos, positive))
        return float(skm.average_precision_score(y_pos, positive))
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_arr, proba, multi_class="ovr", average="macro", labels=list(classes)))
    y_bin = label_binarize(y_arr, classes=list(classes))
    present = y_bin.sum(axis=0) > 0  # a class absent from the holdout has no defined precision curve
    return float(skm.average_precision_score(y_bin[:, present], proba[:, present], average="macro"))


def class_probabilities(model: Any, X: Any) -> tuple[list[Any], Any]:
    """The model's classes and its `predict_proba` on `X` (rows × classes): computed once per model and holdout.

    Every holdout metric (`metrics_from_proba`) and the report's curves derive from these, so the gate,
    the model card and the report can never disagree.

    Raises:
        ValueError: When `X` lacks a feature the model was fitted on, or the model knows < 2 classes.
    """
    import numpy as np

    classes = list(getattr(model, "classes_", []))
    if len(classes) < 2:
        raise ValueError("the model knows fewer than two classes (classes_); it cannot be scored")
    return classes, np.asarray(model.predict_proba(_features(model, X)), dtype=np.float64)


def metrics_from_proba(y: Any, proba: Any, classes: Any, names: Iterable[str] = METRICS) -> dict[str, float]:
    """Metrics from class probabilities (rows × classes in `classes` order); the prediction is the argmax.

    Returns:
        `{metric: score}`; ranking metrics are NaN on a single-class `y`.
    """
    import numpy as np

    names = list(names)
    for name in names:
        _check_metric(name)
    matrix = np.asarray(proba, dtype=np.float64)
    pred = np.asarray(list(classes))[matrix.argmax(axis=1)]
    return {name: metric_from_predictions(name, y, pred, matrix, list(classes)) for name in names}


def _scores(model: Any, X: Any, y: Any, names: Iterable[str]) -> dict[str, float]:
    names = list(names)
    for name in names:
        _check_metric(name)
    X = _features(model, X)
    classes = list(getattr(model, "classes_", []))
    if len(classes) < 2:
        raise ValueError("the model knows fewer than two classes (classes_); it cannot be scored")
    pred = model.predict(X)
    proba = model.predict_proba(X) if (_NEEDS_PROBA & set(names)) else None
    return {name: metric_from_predictions(name, y, pred, proba, classes) for name in names}


def score(model: Any, X: Any, y: Any, metric: str) -> float:
    """One metric of `model` on (`X`, `y`).

    Binary problems use the positive class (`classes_[1]`, scikit-learn's convention); multiclass
    problems use one-vs-rest macro ROC AUC / average precision and macro F1 / precision / recall.

    Args:
        model: A fitted classifier with predict / predict_proba and `classes_`.
        X: Holdout features as a DataFrame (columns are selected by name).
        y: Holdout labels.
        metric: One of `METRICS`.

    Returns:
        The score; NaN when a ranking metric is undefined (a single class in `y`), which the gate
        never deploys.
    """
    return _scores(model, X, y, [metric])[metric]


def all_metrics(model: Any, X: Any, y: Any) -> dict[str, float]:
    """Every supported metric, predicting once, for the model card and the MLflow run."""
    return _scores(model, X, y, METRICS)
