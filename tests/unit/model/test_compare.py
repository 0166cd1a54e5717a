"""The vectorised bootstrap metrics equal scikit-learn's on the same (repeated) rows."""

from __future__ import annotations

import numpy as np
import pytest

from retrain.model.compare import bootstrap_counts, encode, paired_bootstrap, weighted_metric
from retrain.model.evaluate import METRICS, metric_from_predictions


def _data(classes: int, rows: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=rows)
    logits = rng.normal(size=(rows, classes)) + np.eye(classes)[y] * 1.0
    logits = np.round(logits, 1)  # ties in the scores, as trees produce
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("metric", METRICS)
def test_weighted_metric_equals_sklearn_on_each_resample(metric: str, classes: int) -> None:
    # given a holdout and a few bootstrap resamples (as counts)
    y, proba = _data(classes)
    W = bootstrap_counts(len(y), 5, seed=3)
    W = np.vstack([np.ones(len(y)), W])
    # when the vectorised metric is computed
    got = weighted_metric(metric, y, proba, W)
    # then each equals scikit-learn's score on the rows repeated as often as drawn
    for b in range(W.shape[0]):
        rows = np.repeat(np.arange(len(y)), W[b].astype(int))
        pred = proba[rows].argmax(axis=1)
        expected = metric_from_predictions(metric, y[rows], pred, proba[rows], list(range(classes)))
        assert got[b] == pytest.approx(expected, abs=1e-9), (metric, b)


def test_counts_are_seeded_and_sum_to_rows() -> None:
    first, again = bootstrap_counts(50, 20, seed=7), bootstrap_counts(50, 20, seed=7)
    assert np.array_equal(first, again)
    assert (first.sum(axis=1) == 50).all()
    assert not np.array_equal(first, bootstrap_counts(50, 20, seed=8))


def test_roc_auc_is_undefined_on_a_single_class_resample() -> None:
    y = np.array([0, 0, 0, 1])
    proba = np.column_stack([1 - np.linspace(0, 1, 4), np.linspace(0, 1, 4)])
    W = np.array([[1, 1, 1, 1], [2, 1, 1, 0]], dtype=float)  # the second never draws the positive
    auc = weighted_metric("roc_auc", y, proba, W)
    assert auc[0] == 1.0 and np.isnan(auc[1])


def test_encode_uses_the_models_class_order_and_marks_unknown_labels() -> None:
    assert encode(["b", "a", "z"], ["a", "b"]).tolist() == [1, 0, -1]


def test_identical_models_have_a_zero_width_difference() -> None:
    y, proba = _data(2, rows=200)
    result = paired_bootstrap("roc_auc", y, [0, 1], proba, proba, confidence=0.95, resamples=200, seed=1)
    assert result.difference is not None
    assert (result.difference.low, result.difference.high) == (0.0, 0.0)
    assert result.challenger.low < result.challenger.high
