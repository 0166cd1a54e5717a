"""The preprocessing in front of the estimator, chosen from the training window's column types.

The model retrain trains, gates, registers and serves is one scikit-learn object that takes the raw
feature columns (numbers, strings, booleans, missing values) by name:

- every column numeric and none missing: the estimator alone (nothing to prepare, and scoring keeps
  its exact ONNX fast path for HistGradientBoosting);
- HistGradientBoosting (handles missing values natively): `Pipeline([preprocess, classifier])` where
  `preprocess` ordinal-encodes the `string`/`bool` columns (a category unseen in training becomes
  NaN, i.e. "missing", which the trees route like any missing value) and passes numbers (and their
  missing values) through unchanged; the
  encoded columns are declared `categorical_features`, so the trees split on categories natively
  (scikit-learn user guide, "Categorical Features Support" of histogram gradient boosting);
- any other estimator: one-hot encoding of the `string`/`bool` columns (an unseen category encodes as
  all zeros, `handle_unknown="ignore"`; a missing value is a category of its own) and median
  imputation of the numbers (RandomForest, LogisticRegression, SVC ... need complete input).

A user's own Pipeline (`RETRAIN_ESTIMATOR=module:function`) is used as it is.
"""

from __future__ import annotations

from typing import Any

from retrain.model.schema import FeatureSchema

HGB_MAX_CATEGORIES = 250
"""HistGradientBoosting bins a categorical feature into at most `max_bins` (255) codes, one kept for
missing values; rarer categories beyond this many are grouped into one "infrequent" code."""


def _native_categories(estimator: Any) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return isinstance(estimator, HistGradientBoostingClassifier)


def is_pipeline(estimator: Any) -> bool:
    """Whether `estimator` is a scikit-learn Pipeline (the user's own, or one built here)."""
    from sklearn.pipeline import Pipeline

    return isinstance(estimator, Pipeline)


def build_pipeline(estimator: Any, schema: FeatureSchema) -> Any:
    """The estimator with the preprocessing `schema` needs in front (see the module docstring).

    Args:
        estimator: An unfitted classifier (`model.train.build_estimator`), or a Pipeline.
        schema: The training window's feature schema.

    Returns:
        `estimator` itself (a Pipeline, or all columns numeric and complete), or an unfitted
        `Pipeline([("preprocess", ColumnTransformer), ("classifier", estimator)])`.
    """
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if is_pipeline(estimator) or schema.all_numeric_complete:
        return estimator
    categorical, numeric = schema.categorical, schema.numeric
    parts: list[tuple[str, Any, list[str]]] = []
    if _native_categories(estimator):
        if categorical:
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                max_categories=HGB_MAX_CATEGORIES,
            )
            parts.append(("categorical", encoder, categorical))
        if numeric:
            # An identity that keeps NaN ("passthrough" would store a function reference, which the
            # registry's exact type allow-list refuses to load).
            parts.append(("numeric", StandardScaler(with_mean=False, with_std=False), numeric))
        if categorical and estimator.get_params().get("categorical_features") in ("from_dtype", None):
            # The encoder's columns come first in the ColumnTransformer's output.
            estimator.set_params(categorical_features=list(range(len(categorical))))
    else:
        if categorical:
            parts.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
        if numeric:
            parts.append(("numeric", SimpleImputer(strategy="median", keep_empty_features=True), numeric))
    preprocess = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("preprocess", preprocess), ("classifier", estimator)])
