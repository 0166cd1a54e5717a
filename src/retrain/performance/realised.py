"""The realised metric of one scored day: its `predictions.csv` against the labels that arrived later.

The model that scored a day is the one its predictions name (`model_version`), so the metric is that
version's real performance on that day, measured with the same function the gate uses
(`retrain.model.evaluate.metric_from_predictions`).

Class order: a multiclass `predictions.csv` names its classes (`probability_<class>`); a binary one
holds the probability of the positive class, the greater of the two labels (scikit-learn sorts
`classes_`), so the two classes are the sorted union of the labels and the predicted labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class RealisedMetric:
    """One day's realised metric.

    Attributes:
        ds: The scored day whose labels arrived.
        metric: The metric's name (`RETRAIN_METRIC`).
        value: Its value; None when undefined on the day (one class only), see `reason`.
        rows: Rows scored and labelled.
        version: The registry version that scored the day (from predictions.csv).
        reason: Why `value` is None, else None.
    """

    ds: str
    metric: str
    value: float | None
    rows: int
    version: str
    reason: str | None = None

    def below(self, threshold: float) -> bool:
        """True when the value is defined and under `threshold`."""
        return self.value is not None and self.value < threshold


def realised_metric(ds: str, predictions: Path, labels: Path, metric: str) -> RealisedMetric:
    """The metric of the day's predictions against its labels.

    Args:
        ds: The day.
        predictions: predictions/{ds}/predictions.csv (`row, prediction, probability, model_version`,
            plus `probability_<class>` when multiclass).
        labels: raw/{ds}/target.csv.
        metric: A metric name `retrain.model.evaluate` knows.

    Raises:
        retrain.data.errors.DataValidationError: the labels are unreadable or their count differs from
            the predictions' rows.
        ValueError: predictions.csv lacks its columns, or holds several model versions.
    """
    import numpy as np
    import pandas as pd

    from retrain.data.validate import read_target
    from retrain.model.evaluate import metric_from_predictions, undefined_reason

    frame = pd.read_csv(predictions).sort_values("row", kind="stable")
    missing = [c for c in ("row", "prediction", "probability", "model_version") if c not in frame.columns]
    if missing:
        raise ValueError(f"{predictions}: missing column(s) {missing}; rerun batch_predict for {ds}")
    versions = sorted({str(v) for v in frame["model_version"]})
    if len(versions) != 1:
        raise ValueError(f"{predictions}: scored by {versions}, expected one model version")
    y = read_target(labels, len(frame), data_path=predictions).to_numpy()
    pred = frame["prediction"].to_numpy()
    per_class = [c for c in frame.columns if c.startswith(PROBABILITY_PREFIX)]
    if per_class:
        names = [c.removeprefix(PROBABILITY_PREFIX) for c in per_class]
        y, pred = np.asarray([str(v) for v in y], dtype=object), np.asarray([str(v) for v in pred], dtype=object)
        classes: list[Any] = names
        proba = frame[per_class].to_numpy(dtype=np.float64)
    else:
        classes = sorted(set(y.tolist()) | set(pred.tolist()))
        if len(classes) < 2:  # which class the probability is of cannot be told: no value, and why
            reason = f"labels and predictions of {ds} hold one class only ({classes[0]!r})"
            return RealisedMetric(ds, metric, None, len(frame), versions[0], reason)
        positive = frame["probability"].to_numpy(dtype=np.float64)
        proba = np.column_stack([1.0 - positive, positive])
        if len(classes) != 2:
            raise ValueError(f"{predictions}: a binary prediction file but labels and predictions hold {classes}")
    value = metric_from_predictions(metric, y, pred, proba, classes)
    reason = undefined_reason(metric, y) if not math.isfinite(value) else None
    return RealisedMetric(
        ds=ds,
        metric=metric,
        value=value if math.isfinite(value) else None,
        rows=len(frame),
        version=versions[0],
        reason=reason,
    )
