"""Fixtures of the registry tests: one MLflow store per session, one registered model name per test.

Creating a SQLite store costs about a second, so the store is shared; each test uses its own
registered model name, so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from retrain.registry import Registry

WINDOW = ["2025-11-24", "2025-11-25", "2025-11-26"]


def make_data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["f0", "f1", "f2", "f3"])
    y = pd.Series((X["f0"] - X["f2"] + rng.normal(scale=0.5, size=n) > 0).astype(int))
    return X, y


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_data()


@pytest.fixture(scope="session")
def logreg(data: tuple[pd.DataFrame, pd.Series]) -> LogisticRegression:
    return LogisticRegression(random_state=0).fit(*data)


@pytest.fixture(scope="session")
def hgb(data: tuple[pd.DataFrame, pd.Series]) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(*data)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("mlflow-home")
    return {"tracking_uri": f"sqlite:///{home / 'mlflow.db'}", "artifact_root": home / "mlartifacts"}


@pytest.fixture
def registry(store: dict[str, Any], request: pytest.FixtureRequest) -> Registry:
    name = "m-" + request.node.name.replace("[", "-").replace("]", "")
    return Registry(store["tracking_uri"], name, store["artifact_root"])


@pytest.fixture
def log_run(registry: Registry) -> Callable[..., str]:
    """Log a challenger run of `model` into the test's registry; its run id."""

    def log(model: Any, X: pd.DataFrame, ds: str = "2025-12-01", **kw: Any) -> str:
        return registry.log_challenger(
            model,
            X,
            ds=ds,
            params={"estimator": f"sklearn.{type(model).__name__}", "estimator_params": {"max_iter": 10}},
            metrics={"roc_auc": 0.9, "accuracy": 0.8},
            tags={"trigger": "schedule"},
            window=WINDOW,
            **kw,
        )

    return log


@pytest.fixture
def new_version(registry: Registry, log_run: Callable[..., str]) -> Callable[..., str]:
    """Log and register `model` as a new version of the test's model; the version."""

    def make(model: Any, X: pd.DataFrame, ds: str) -> str:
        return registry.register(log_run(model, X, ds=ds), ds=ds)

    return make
