"""The allow-list of model types is complete and exact: every classifier retrain can train loads.

Re-derives `ALLOWED_TYPES` the way its docstring says it was derived: each scikit-learn classifier that
`RETRAIN_ESTIMATOR` can name (default parameters, plus the parameter choices that change what a fitted
model stores) is trained on binary and multiclass numeric data and on mixed data (strings, booleans,
missing values, string labels: the preprocessing Pipeline of `retrain.model.preprocess`), saved as
retrain saves it and loaded through `load_model_dir`; a scikit-learn upgrade that stores a new type
fails here, naming it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retrain.io import sha256_file
from retrain.model.train import EstimatorError, build_estimator, fit
from retrain.registry import ALLOWED_TYPES, load_model_dir, skops_trusted_types

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("sklearn.neighbors.KNeighborsClassifier", {"algorithm": "ball_tree"}),
    ("sklearn.neighbors.KNeighborsClassifier", {"metric": "manhattan"}),
    ("sklearn.neighbors.KNeighborsClassifier", {"metric": "chebyshev"}),
    ("sklearn.neighbors.KNeighborsClassifier", {"p": 3}),
    ("sklearn.svm.SVC", {"probability": True}),
    ("sklearn.linear_model.SGDClassifier", {"loss": "log_loss"}),
    ("sklearn.neural_network.MLPClassifier", {"solver": "sgd", "max_iter": 20}),
    ("sklearn.neural_network.MLPClassifier", {"solver": "lbfgs", "max_iter": 20}),
    ("sklearn.calibration.CalibratedClassifierCV", {"method": "isotonic"}),
    ("sklearn.calibration.CalibratedClassifierCV", {"method": "temperature"}),
    ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 100, "learning_rate": 0.1}),  # the default
    ("sklearn.ensemble.HistGradientBoostingClassifier", {"early_stopping": True, "max_iter": 20}),
]


def _trainable() -> list[tuple[str, dict[str, Any]]]:
    """Every classifier `build_estimator` accepts with default parameters, then the variants."""
    from sklearn.utils import all_estimators

    found = []
    for _, cls in all_estimators(type_filter="classifier"):
        path = f"{cls.__module__}.{cls.__name__}"
        try:
            build_estimator(path, {}, seed=0)
        except EstimatorError:  # needs an estimator argument, or has no predict_proba: not trainable as is
            continue
        found.append((path, {}))
    return found + VARIANTS


def _data(classes: int, mixed: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.uniform(0, 3, size=(90, 3)), columns=["f0", "f1", "f2"])  # non-negative: NB models
    y = pd.Series(np.floor(X["f0"]).astype(int) % classes)
    if mixed:  # the preprocessing Pipeline: string and boolean categories, missing values, string labels
        X["island"] = pd.Series(rng.choice(["Biscoe", "Dream", "Torgersen"], size=90)).where(X["f1"] > 0.3)
        X["male"] = pd.Series(rng.choice([True, False], size=90), dtype=object).where(X["f2"] > 0.3)
        X["count"] = rng.integers(0, 5, size=90)
        X.loc[::9, "f1"] = np.nan
        y = y.map(lambda v: f"class-{v}")
    return X, y


def _save(model: Any, folder: Path) -> Path:
    import mlflow.sklearn

    mlflow.sklearn.save_model(
        model,
        str(folder),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=skops_trusted_types(model) or None,
        pip_requirements=["scikit-learn", "skops"],
    )
    return folder


def test_every_trainable_classifier_saves_and_loads(tmp_path: Path) -> None:
    # given every classifier retrain can train, fitted on binary and on multiclass data
    stored: set[str] = set()
    trained = 0
    for i, (path, params) in enumerate(_trainable()):
        for classes, mixed in ((2, False), (3, False), (3, True)):
            X, y = _data(classes, mixed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings of tiny fits
                try:
                    model = fit(build_estimator(path, params, seed=0), X, y)
                except np.linalg.LinAlgError:
                    assert mixed and "QuadraticDiscriminant" in path, path  # collinear one-hot columns
                    continue
            # when saved as retrain logs it and loaded through the verified loader
            folder = _save(model, tmp_path / f"{i}-{classes}-{mixed}")
            stored.update(skops_trusted_types(model))
            loaded = load_model_dir(
                folder, uri=path, expected_sha=sha256_file(folder / "model.skops"), allow_unverified=False
            )
            # then it loads, and predicts exactly as the original
            assert type(loaded) is type(model), path
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X), err_msg=path)
            np.testing.assert_array_equal(loaded.predict(X), model.predict(X), err_msg=path)
            trained += 1
    assert trained > 60
    # and the allow-list is exact: every type in it is one these models store (distance metrics aside)
    metrics = {t for t in ALLOWED_TYPES if t.startswith("sklearn.metrics._dist_metrics.")}
    assert stored <= ALLOWED_TYPES
    assert stored | metrics == ALLOWED_TYPES, f"never stored: {sorted(ALLOWED_TYPES - stored - metrics)}"


def test_distance_metrics_are_every_builtin_metric() -> None:
    # the neighbour models' metrics: every one scikit-learn maps a metric name to, except a user's function
    from sklearn.metrics._dist_metrics import METRIC_MAPPING64

    builtin = {f"{c.__module__}.{c.__name__}" for name, c in METRIC_MAPPING64.items() if name != "pyfunc"}
    assert {t for t in ALLOWED_TYPES if "_dist_metrics" in t} == builtin
    assert not any("PyFunc" in t for t in ALLOWED_TYPES)
