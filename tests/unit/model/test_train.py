"""Building an estimator from the user's spec: seeding, and errors that name the setting to fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.model.train import EstimatorError, build_estimator, fit


def _data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["f0", "f1", "f2", "f3"])
    y = pd.Series((X["f0"] + 0.5 * X["f1"] + rng.normal(scale=0.5, size=n) > 0).astype(int), name="target")
    return X, y


def test_seed_is_set_when_not_given() -> None:
    est = build_estimator("sklearn.linear_model.LogisticRegression", {"C": 0.5}, seed=7)
    assert est.get_params()["random_state"] == 7
    assert est.get_params()["C"] == 0.5


def test_user_random_state_wins() -> None:
    est = build_estimator("sklearn.linear_model.LogisticRegression", {"random_state": 3}, seed=7)
    assert est.get_params()["random_state"] == 3


def test_estimator_without_random_state() -> None:
    est = build_estimator("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 3}, seed=7)
    assert "random_state" not in est.get_params()


def test_same_seed_same_model_other_seed_other_model() -> None:
    # given a randomised estimator / when built twice with one seed and once with another
    X, y = _data()
    path, params = "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 5, "max_features": 1}
    a = fit(build_estimator(path, params, seed=1), X, y).predict_proba(X)
    b = fit(build_estimator(path, params, seed=1), X, y).predict_proba(X)
    c = fit(build_estimator(path, params, seed=2), X, y).predict_proba(X)
    # then the seed decides the model
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_returns_a_fitted_classifier() -> None:
    X, y = _data()
    model = fit(build_estimator("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 10}, 0), X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.predict_proba(X).shape == (200, 2)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nonexistent_package_xyz.Model", "cannot import module"),
        ("sklearn.linear_model.NoSuchModel", "has no attribute"),
        ("sklearn.metrics.accuracy_score", "is not a class"),
        ("sklearn.linear_model.LinearRegression", "no predict_proba"),
        ("sklearn.svm.SVC", "probability"),
        ("sklearn.preprocessing.StandardScaler", "no predict, predict_proba"),
    ],
)
def test_bad_estimator_names_the_setting(path: str, message: str) -> None:
    with pytest.raises(EstimatorError, match="RETRAIN_ESTIMATOR=") as info:
        build_estimator(path, {}, seed=0)
    assert message in str(info.value)
    assert "RETRAIN_ESTIMATOR_PARAMS rejected" not in str(info.value)


def test_svc_with_probability_is_accepted() -> None:
    est = build_estimator("sklearn.svm.SVC", {"probability": True}, seed=0)
    assert est.get_params()["random_state"] == 0


@pytest.mark.parametrize(
    "params",
    [{"no_such_param": 1}, {"C": -1.0}, {"penalty": "nonsense"}],
    ids=["unknown-param", "out-of-range", "bad-choice"],
)
def test_bad_params_name_the_params_setting(params: dict) -> None:
    with pytest.raises(EstimatorError, match="RETRAIN_ESTIMATOR_PARAMS"):
        build_estimator("sklearn.linear_model.LogisticRegression", params, seed=0)
