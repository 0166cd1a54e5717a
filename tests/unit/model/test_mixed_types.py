"""Real data as it is: string and boolean categories, missing values, string labels, user Pipelines."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from retrain.model.preprocess import build_pipeline
from retrain.model.schema import FeatureSchema, SchemaError
from retrain.model.train import EstimatorError, build_estimator, fit

HGB = "sklearn.ensemble.HistGradientBoostingClassifier"
RF = "sklearn.ensemble.RandomForestClassifier"
LR = "sklearn.linear_model.LogisticRegression"


def _penguins() -> tuple[pd.DataFrame, pd.Series]:
    import palmerpenguins

    frame = palmerpenguins.load_penguins()  # shipped inside the wheel: no network
    return frame.drop(columns="species"), frame["species"]


def test_schema_of_the_penguins() -> None:
    X, _ = _penguins()
    schema = FeatureSchema.from_frame(X)
    assert schema.column("island").kind == "string"
    assert schema.column("island").categories == ("Biscoe", "Dream", "Torgersen")
    assert schema.column("island").nullable is False
    assert schema.column("sex").nullable is True  # 11 penguins have no recorded sex
    assert schema.column("bill_length_mm").kind == "float"
    assert schema.column("year").kind == "int"
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_schema_kinds_of_booleans_with_gaps_and_integers() -> None:
    frame = pd.DataFrame({"b": [True, False, True], "gap": [True, None, False], "i": [1, 2, 3]})
    schema = FeatureSchema.from_frame(frame)
    assert [c.kind for c in schema.columns] == ["bool", "bool", "int"]
    assert schema.column("gap").nullable and schema.column("gap").categories == ("False", "True")


def test_mlflow_schema_carries_the_real_types() -> None:
    X, _ = _penguins()
    spec = {c.name: (c.type.name, c.required) for c in FeatureSchema.from_frame(X).mlflow_schema().inputs}
    assert spec["island"] == ("string", True)
    assert spec["sex"] == ("string", False)
    assert spec["year"] == ("long", True)
    assert spec["body_mass_g"] == ("double", False)


@pytest.mark.parametrize("path", [HGB, RF, LR])
def test_penguins_train_without_hand_encoding_and_predict_species(path: str) -> None:
    # given the penguins as shipped: string columns, missing values, string labels
    X, y = _penguins()
    # when fitted through retrain's own path
    params = {"max_iter": 2000} if path == LR else {}
    model = fit(build_estimator(path, params, seed=0), X, y)
    # then the model is a Pipeline that predicts the species names, with probabilities summing to 1
    assert type(model).__name__ == "Pipeline"
    assert list(model.classes_) == ["Adelie", "Chinstrap", "Gentoo"]
    assert set(model.predict(X)) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (model.predict(X) == y).mean() > 0.9
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert model.feature_schema_ == FeatureSchema.from_frame(X).to_dict()
    assert list(model.feature_names_in_) == list(X.columns)


def test_hgb_splits_on_categories_natively() -> None:
    X, y = _penguins()
    model = fit(build_estimator(HGB, {}, seed=0), X, y)
    hgb = model.steps[-1][1]
    assert hgb.is_categorical_.tolist() == [True, True, False, False, False, False, False]  # island, sex first


@pytest.mark.parametrize("path", [HGB, RF])
def test_unseen_category_and_missing_values_are_handled_by_the_model(path: str) -> None:
    X, y = _penguins()
    model = fit(build_estimator(path, {}, seed=0), X, y)
    odd = X.head(3).copy()
    odd["island"] = ["Atlantis", None, "Dream"]  # a category never seen, and a missing one
    odd.loc[0, "body_mass_g"] = np.nan
    proba = model.predict_proba(odd)
    assert np.isfinite(proba).all()
    assert FeatureSchema.from_dict(model.feature_schema_).check(odd) == {"island": ["Atlantis"]}


def test_schema_check_names_the_column_and_first_bad_row() -> None:
    X, _ = _penguins()
    schema = FeatureSchema.from_frame(X)
    bad = X.head(5).astype({"year": object})
    bad.loc[3, "year"] = "twenty"
    with pytest.raises(SchemaError, match=r"'year' row 3: 'twenty' is not a number") as err:
        schema.check(bad, source="day 2026-01-03")
    assert err.value.column == "year" and err.value.row == 3
    with pytest.raises(SchemaError, match=r"missing feature column\(s\) \['sex'\]"):
        schema.check(X.drop(columns="sex"))


def test_numeric_complete_data_keeps_the_bare_estimator() -> None:
    # the fast scoring paths (ONNX for HistGradientBoosting) see exactly the model they always saw
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    model = fit(build_estimator(HGB, {}, seed=0), X, y)
    assert type(model).__name__ == "HistGradientBoostingClassifier"
    assert build_pipeline(build_estimator(HGB, {}, 0), FeatureSchema.from_frame(X)).__class__.__name__ == (
        "HistGradientBoostingClassifier"
    )


def test_yes_no_labels_and_feature() -> None:
    rng = np.random.default_rng(1)
    student = rng.choice(["Yes", "No"], size=200)
    balance = rng.normal(size=200) + (student == "Yes")
    X = pd.DataFrame({"student": student, "balance": balance})
    y = pd.Series(np.where(balance > 0.5, "Yes", "No"))
    model = fit(build_estimator(HGB, {}, seed=0), X, y)
    assert list(model.classes_) == ["No", "Yes"]
    assert set(model.predict(X)) == {"No", "Yes"}


def test_module_function_returns_the_users_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    module = types.ModuleType("my_models")
    module.scaled_logreg = lambda C=1.0: make_pipeline(StandardScaler(), LogisticRegression(C=C))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "my_models", module)
    est = build_estimator("my_models:scaled_logreg", {"C": 0.5}, seed=0)
    assert est.steps[-1][1].C == 0.5
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    X.loc[0, "a"] = 1.0
    model = fit(est, X, (X["a"] > 0).astype(int))
    assert model is est  # used as it is: no preprocessing added around the user's Pipeline
    with pytest.raises(EstimatorError, match="RETRAIN_ESTIMATOR='my_models:nothing'.*no function 'nothing'"):
        build_estimator("my_models:nothing", {}, seed=0)
    with pytest.raises(EstimatorError, match="RETRAIN_ESTIMATOR_PARAMS rejected by my_models:scaled_logreg"):
        build_estimator("my_models:scaled_logreg", {"gamma": 1}, seed=0)
