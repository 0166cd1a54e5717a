"""Build a classifier from the user's spec and fit it.

The estimator is named by an import path (`RETRAIN_ESTIMATOR`) and configured by JSON parameters
(`RETRAIN_ESTIMATOR_PARAMS`) so that users bring their own model without writing code. Everything that
can go wrong with that spec is reported here, at build time, naming the setting to fix, instead of
surfacing as a stack trace from deep inside scikit-learn in the middle of a DAG run.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

ESTIMATOR_SETTING = "RETRAIN_ESTIMATOR"
PARAMS_SETTING = "RETRAIN_ESTIMATOR_PARAMS"


class EstimatorError(ValueError):
    """The estimator spec is unusable; the message names the setting to change and why."""


def _import_class(import_path: str) -> type:
    module_name, _, class_name = import_path.rpartition(".")
    if not module_name or not class_name:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={import_path!r} is not an import path; "
            "use one such as sklearn.linear_model.LogisticRegression"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={import_path!r}: cannot import module {module_name!r} ({exc}); "
            "is the package installed in this environment?"
        ) from None
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={import_path!r}: module {module_name!r} has no attribute {class_name!r}"
        ) from None
    if not inspect.isclass(cls):
        raise EstimatorError(f"{ESTIMATOR_SETTING}={import_path!r} is not a class")
    return cls


def _accepts(estimator: Any, name: str) -> bool:
    """Whether the estimator takes parameter `name`: sklearn's get_params, else the constructor."""
    get_params = getattr(estimator, "get_params", None)
    if callable(get_params):
        try:
            return name in get_params(deep=False)
        except TypeError:
            pass
    try:
        return name in inspect.signature(type(estimator)).parameters
    except (TypeError, ValueError):
        return False


def _check_classifier(estimator: Any, import_path: str) -> None:
    missing = [m for m in ("fit", "predict", "predict_proba") if not callable(getattr(estimator, m, None))]
    if missing:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={import_path!r} is not a probabilistic classifier: it has no "
            f"{', '.join(missing)} (the gate scores probabilities; an SVC, for example, needs "
            f"{PARAMS_SETTING}='{{\"probability\": true}}')"
        )
    from sklearn.base import is_classifier

    try:
        classifier = is_classifier(estimator)
    except Exception:  # a foreign object without sklearn tags is simply "not a classifier"
        classifier = False
    if not classifier:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={import_path!r} is not a scikit-learn classifier "
            "(is_classifier() is False); retrain trains and gates classifiers only"
        )


def _validate_params(estimator: Any, import_path: str) -> None:
    """Run scikit-learn's own parameter checks now, so a bad value fails before any data is read."""
    validate = getattr(estimator, "_validate_params", None)
    if not callable(validate):
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        raise EstimatorError(f"{PARAMS_SETTING} rejected by {import_path}: {exc}") from None


def _from_factory(spec: str, params: dict[str, Any]) -> Any:
    """`module:function` called with `params` as keyword arguments: the user's own Pipeline."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EstimatorError(
            f"{ESTIMATOR_SETTING}={spec!r}: cannot import module {module_name!r} ({exc}); "
            "is it on the Python path of every worker?"
        ) from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise EstimatorError(f"{ESTIMATOR_SETTING}={spec!r}: module {module_name!r} has no function {func_name!r}")
    try:
        return factory(**params)
    except TypeError as exc:
        raise EstimatorError(f"{PARAMS_SETTING} rejected by {spec}: {exc}") from None


def build_estimator(import_path: str, params: dict[str, Any], seed: int) -> Any:
    """Import, configure and check the classifier named by `import_path`.

    `random_state` is set to `seed` when the estimator accepts it and the user did not choose one,
    so that a rerun of the same day trains the same model. A `module:function` spec calls the
    function with `params` as keyword arguments and uses what it returns (the user's own Pipeline,
    whose last step is a classifier) as it is.

    Args:
        import_path: A class import path such as `sklearn.ensemble.HistGradientBoostingClassifier`,
            or `module:function`.
        params: Constructor parameters (already parsed from `RETRAIN_ESTIMATOR_PARAMS`).
        seed: The project seed (`RETRAIN_SEED`).

    Returns:
        An unfitted estimator.

    Raises:
        EstimatorError: Naming `RETRAIN_ESTIMATOR` when the class cannot be imported or is not a
            classifier with fit/predict_proba, or `RETRAIN_ESTIMATOR_PARAMS` when the parameters are
            rejected.
    """
    params = dict(params or {})
    if ":" in import_path:
        estimator = _from_factory(import_path, params)
        _check_classifier(estimator, import_path)
        return estimator
    cls = _import_class(import_path)
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise EstimatorError(f"{PARAMS_SETTING} rejected by {import_path}: {exc}") from None
    _check_classifier(estimator, import_path)
    if "random_state" not in params and _accepts(estimator, "random_state"):
        if callable(getattr(estimator, "set_params", None)):
            estimator.set_params(random_state=seed)
        else:
            estimator.random_state = seed
    _validate_params(estimator, import_path)
    return estimator


def fit(estimator: Any, X: Any, y: Any) -> Any:
    """Fit the model on features `X` (a DataFrame, so feature names are recorded) and labels `y`.

    The preprocessing is chosen from `X`'s column types (`retrain.model.preprocess.build_pipeline`);
    the training window's feature schema (`retrain.model.schema`) is kept on the fitted model as
    `feature_schema_` (a JSON-safe dict, saved inside the model file) so that every copy of the
    version can check the data it scores. Labels are fitted as they are: strings, booleans or
    integers, so `classes_` and every prediction are the user's own label values.

    Returns:
        The fitted model: `estimator` itself, or a Pipeline ending with it.

    Raises:
        EstimatorError: When scikit-learn rejects a parameter only at fit time, naming
            `RETRAIN_ESTIMATOR_PARAMS` so that the fix is clear.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    from retrain.model.preprocess import build_pipeline
    from retrain.model.schema import FeatureSchema

    schema = FeatureSchema.from_frame(X) if hasattr(X, "columns") else None
    model = estimator if schema is None else build_pipeline(estimator, schema)
    try:
        fitted = model.fit(X, y)
    except InvalidParameterError as exc:
        raise EstimatorError(f"{PARAMS_SETTING} rejected by {type(estimator).__name__}: {exc}") from None
    model = model if fitted is None else fitted
    if schema is not None:
        model.feature_schema_ = schema.to_dict()
    return model
