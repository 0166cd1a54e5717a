"""The exact types, beyond skops' own defaults, that a model file may hold for retrain to load it.

skops loads by default only what it knows to be data (scikit-learn estimator classes, NumPy and SciPy
arrays, builtins such as dict and list) and reports every other type in a file as "untrusted". Those
reported types are where code execution hides: a function reference (`builtins.eval`,
`numpy.testing.runstring`, `numpy.load` with pickles allowed) or a callable that skops calls with
arguments from the file. Trusting types by module prefix (`sklearn.`, `numpy.`) lets those in, so
retrain trusts an EXACT list of type names: the ones its own models are made of.

How the list was derived: every scikit-learn classifier that `RETRAIN_ESTIMATOR` can name (each class
of `sklearn.utils.all_estimators(type_filter="classifier")` that `model.train.build_estimator` accepts
with default parameters, plus the parameter choices that change what is stored: neighbour search
algorithms and metrics, MLP solvers, calibration methods) was fitted on binary and multiclass numeric data
and on mixed data (string and boolean categories, missing values, string labels), which wraps it in the
preprocessing Pipeline of `retrain.model.preprocess`, and dumped with skops; the union of
`skops.io.get_untrusted_types` is below. The test
`tests/unit/registry/test_trusted_types.py` re-derives it, so a scikit-learn upgrade that adds a type
fails there, naming it, instead of in production. Types that take user code (`PyFuncDistance64`, a
`FunctionTransformer`'s function) are deliberately absent.

Residual risk, and why unverified models need a flag: skops can check a type, not its content.
`sklearn.tree._tree.Tree` (every tree model) indexes its node arrays without bounds checks, so a crafted
tree can crash the process that scores with it (skops leaves Tree untrusted by default for that reason,
scikit-learn PR 34558). A model whose SHA-256 was recorded when retrain logged it is the model retrain
trained; any other model loads only when the user says they trust its source.
"""

from __future__ import annotations

_DISTANCE_METRICS = tuple(
    f"sklearn.metrics._dist_metrics.{name}Distance64"
    for name in (
        "BrayCurtis",
        "Canberra",
        "Chebyshev",
        "Dice",
        "Euclidean",
        "Hamming",
        "Haversine",
        "Jaccard",
        "Kulsinski",
        "Mahalanobis",
        "Manhattan",
        "Matching",
        "Minkowski",
        "RogersTanimoto",
        "RussellRao",
        "SEuclidean",
        "SokalMichener",
        "SokalSneath",
    )  # every metric of KNeighbors/RadiusNeighbors except PyFuncDistance64 (a user's Python function)
)

ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        # Decision trees and every ensemble of them (RandomForest, ExtraTrees, GradientBoosting,
        # AdaBoost, Bagging): the fitted tree structure.
        "sklearn.tree._tree.Tree",
        # HistGradientBoostingClassifier (the default estimator): its fitted trees.
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # CalibratedClassifierCV: the per-fold calibrated models and their calibrators.
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.calibration._TemperatureScaling",
        # GaussianProcessClassifier: the binary Laplace model and its default kernel (1.0 * RBF(1.0)).
        "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.Product",
        "sklearn.gaussian_process.kernels.RBF",
        # KNeighborsClassifier / RadiusNeighborsClassifier: the search tree and its distance metric.
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        *_DISTANCE_METRICS,
        # The preprocessing Pipeline (retrain.model.preprocess) on string / boolean columns: the encoders'
        # `categories_` are object arrays, which skops stores with their `numpy.dtype` (here `object`;
        # a dtype object is data, it runs nothing). Pipeline, ColumnTransformer, OrdinalEncoder,
        # OneHotEncoder, SimpleImputer and StandardScaler are skops defaults, so they are not listed.
        "numpy.dtype",
        # HistGradientBoostingClassifier with categorical_features (the default estimator on string or
        # boolean columns) keeps an inner ColumnTransformer whose numeric part is
        # `FunctionTransformer(functools.partial(check_array, ...))` (scikit-learn's own
        # `_preprocess_X`). `functools.partial` only binds a function to arguments; skops checks the
        # bound function's type separately, so the partial can only ever wrap an allowed function, and
        # the only one allowed is `check_array`, which validates an array and returns it.
        "functools.partial",
        "sklearn.utils.validation.check_array",
        # MLPClassifier: the optimizer state kept after fit (solver "adam" and "sgd").
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)
"""Type names (module.qualname, as skops reports them) that retrain lets skops load."""
