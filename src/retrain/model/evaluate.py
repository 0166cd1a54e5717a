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


def holdout_labels(y: Any) -> list[Any]:
    """The holdout's full label set, sorted (the classes both models are scored on)."""
    import numpy as np

    return list(np.unique(np.asarray(y)))


def undefined_reason(metric: str, y: Any) -> str | None:
    """Why `metric` is undefined on holdout labels `y` (a sentence), or None when it is defined.

    Ranking metrics (ROC AUC, average precision) need two classes in the holdout.
    """
    if metric in _NEEDS_PROBA and len(holdout_labels(y)) < 2:
        labels = holdout_labels(y)
        only = f"only {getattr(labels[0], 'item', lambda: labels[0])()!r}" if labels else "no rows"
        return f"{metric} is undefined on this holdout: its labels hold {only}, a ranking metric needs two classes"
    return None


def _columns_for(labels: list[Any], classes: list[Any], proba: Any) -> Any:
    """Probability columns in `labels` order; a label the model never saw gets probability 0."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((proba.shape[0], len(labels)), dtype=np.float64)
    for j, label in enumerate(labels):
        if label in index:
            out[:, j] = proba[:, index[label]]
    return out


def metric_from_predictions(metric: str, y: Any, pred: Any, proba: Any, classes: Any) -> float:
    """One metric from labels, predicted labels and class probabilities (the report's curves use the same).

    The label set is the holdout's (`holdout_labels`), so a champion and a challenger that know
    different classes (a class appeared in newer days, or vanished from the holdout) are scored on the
    same classes and their scores compare. A binary model on a holdout of its own two classes uses
    its positive class `classes[1]` (scikit-learn's convention); a holdout of two labels uses the
    greater as positive; more labels use the unweighted (macro) mean over the holdout's labels,
    one-vs-rest for ROC AUC and average precision (as scikit-learn's `multi_class="ovr"`).
    A class the model never saw has probability 0 and is never predicted.

    Returns:
        The score; NaN when a ranking metric is undefined (a single label in `y`, see
        `undefined_reason`), which the gate never deploys.
    """
    import numpy as np
    from sklearn import metrics as skm

    classes = list(classes)
    y_arr = np.asarray(y)
    labels = holdout_labels(y_arr)
    if len(classes) == 2 and set(labels) <= set(classes):
        labels = classes  # the model's own binary problem (also when the holdout holds one of its classes)
    binary = len(labels) == 2
    if metric == "accuracy":
        return float(skm.accuracy_score(y_arr, pred))
    if metric == "balanced_accuracy":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": a fact, not a problem
            return float(skm.balanced_accuracy_score(y_arr, pred))
    if metric in ("f1", "precision", "recall"):
        fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric]
        if binary:  # one-vs-rest on the positive label: a prediction of a third class is simply not positive
            positive = labels[1]
            return float(fn(y_arr == positive, np.asarray(pred) == positive, zero_division=0))
        return float(fn(y_arr, pred, labels=labels, average="macro", zero_division=0))

    # Ranking metrics are undefined when the holdout holds a single class: NaN, which never deploys.
    if undefined_reason(metric, y_arr) is not None:
        return math.nan
    present = holdout_labels(y_arr)
    if binary and set(present) == set(labels):
        positive = _columns_for([labels[1]], classes, np.asarray(proba))[:, 0]
        y_pos = (y_arr == labels[1]).astype(int)
        if metric == "roc_auc":
            return float(skm.roc_auc_score(y_pos, positive))
        return float(skm.average_precision_score(y_pos, positive))
    matrix = _columns_for(present, classes, np.asarray(proba))
    fn = skm.roc_auc_score if metric == "roc_auc" else skm.average_precision_score
    return float(np.mean([fn((y_arr == label).astype(int), matrix[:, j]) for j, label in enumerate(present)]))


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
    # One walk of the model: its predictions are the argmax of its probabilities, as on the holdout
    # (`metrics_from_proba`) and in the scored files, so a training metric means what a holdout one does.
    names = list(names)
    for name in names:
        _check_metric(name)
    classes, proba = class_probabilities(model, X)
    return metrics_from_proba(y, proba, classes, names)


def score(model: Any, X: Any, y: Any, metric: str) -> float:
    """One metric of `model` on (`X`, `y`).

    Binary problems use the positive class (`classes_[1]`, scikit-learn's convention); multiclass
    problems use one-vs-rest macro ROC AUC / average precision and macro F1 / precision / recall.

    Args:
        model: A fitted classifier with `predict_proba` and `classes_`; its prediction is the argmax.
        X: Holdout features as a DataFrame (columns are selected by name).
        y: Holdout labels.
        metric: One of `METRICS`.

    Returns:
        The score; NaN when a ranking metric is undefined (a single class in `y`), which the gate
        never deploys.
    """
    return _scores(model, X, y, [metric])[metric]


def all_metrics(model: Any, X: Any, y: Any) -> dict[str, float]:
    """Every supported metric from one `predict_proba` (predictions: its argmax), for the card and the MLflow run."""
    return _scores(model, X, y, METRICS)
