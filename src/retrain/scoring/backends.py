"""Prediction backends: scikit-learn's own `predict_proba`, or ONNX Runtime checked against it first.

A compiled model is used only after it gave the same answers as scikit-learn on a sample of the data
being scored (probabilities within `TOLERANCE`, same labels); if conversion or the check fails,
scoring falls back to scikit-learn and the predictor's `note` says why.

What was measured on this machine (2 cores, 2M x 20 floats; `bench/bench_score.py` is the record):

- HistGradientBoostingClassifier (200 trees): ONNX Runtime is faster than scikit-learn's
  `predict_proba` on the same array: 6.9 s vs 8.5 s (1.24x; 13.5 vs 16.7 CPU s), run as the streaming
  loop runs it (one-thread sessions, one call per core). skl2onnx cannot be used for it here: with
  onnx>=1.17 its converter fails (a Python bool in an int list), and it only emits float32
  thresholds, which send ~1 row in 20k down another branch (|Δp| up to 1e-2, far above 1e-5). So
  `hgb_to_onnx` builds the graph itself: a `TreeEnsembleRegressor` (ai.onnx.ml v3) with float64
  thresholds and leaf values summing the raw score exactly like scikit-learn; the link (sigmoid /
  softmax) is applied in float64. Max |Δp| over 2M rows: 1.3e-8, no label differs.
- ONNX Runtime sessions with 2 intra-op threads spin and stall when another thread holds a core
  (up to 4x slower under load): the streaming loop uses 1 thread per session and one call per core.
- RandomForest / GradientBoosting through skl2onnx (float32, matching scikit-learn's own float32
  trees): correct, but ONNX Runtime was 2.7x slower than scikit-learn, so `auto` keeps scikit-learn.
- LogisticRegression: `predict_proba` is a matrix product (0.2 s per 2M rows); nothing to gain.

Hence `auto` = ONNX for a bare HistGradientBoostingClassifier on `AUTO_ONNX_MIN_ROWS` rows or more
(checked), scikit-learn otherwise;
`onnx` = try ONNX for any model (HGB by our converter, others by skl2onnx), checked, else fall back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger("retrain.scoring.engine")

BACKENDS = ("auto", "sklearn", "onnx")
VERIFY_ROWS = 2_000
TOLERANCE = 1e-5
AUTO_ONNX_MIN_ROWS = 250_000
"""The fewest input rows for which `auto` compiles: ONNX Runtime's gain must pay for its fixed cost.

The gain, HistGradientBoosting(200), 20 floats: 6.9 s instead of 8.5 s per 2M rows, ~0.8 µs a row. The
fixed cost (importing onnx and ONNX Runtime, building the graph, scoring the check's rows twice):
~0.15 s and ~40 MB, measured as `retrain predict` on a 2,000-row CSV (2.11 s vs 1.96 s with
`--backend sklearn`, 5 runs each, alternated). They break even near 200,000 rows.
"""


class Predictor(Protocol):
    """What the scoring loop needs: class probabilities for a float64 matrix, and a name for the log."""

    name: str
    note: str

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


class UnsupportedModel(Exception):
    """The compiled backend has no exact translation of this model."""


def available_cpus() -> int:
    """CPUs this process may use (a worker pinned to fewer cores gets fewer threads)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


@dataclass
class SklearnPredictor:
    """The model's own `predict_proba`; a DataFrame view (no copy) when it was fitted with column names."""

    model: Any
    columns: list[str]
    note: str = "scikit-learn predict_proba"
    name: str = field(default="sklearn", init=False)

    def predict_proba(self, features: Any) -> np.ndarray:
        data: Any = features
        if isinstance(features, np.ndarray) and hasattr(self.model, "feature_names_in_"):
            import pandas as pd

            data = pd.DataFrame(features, columns=self.columns, copy=False)
        return np.asarray(self.model.predict_proba(data), dtype=np.float64)


class OnnxPredictor:
    """An ONNX Runtime session and the function that turns its outputs into class probabilities."""

    name = "onnx"

    def __init__(
        self,
        payload: bytes,
        input_dtype: type[np.floating],
        to_proba: Callable[[list[np.ndarray]], np.ndarray],
        *,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cpus()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads would spin, taking the core our reader thread (or another process) needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = options.intra_op_num_threads
        self.session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.input_dtype = input_dtype
        self.to_proba = to_proba
        self.note = f"ONNX Runtime ({self.threads} thread{'s' if self.threads > 1 else ''} per call)"

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(features, dtype=self.input_dtype)
        return self.to_proba(self.session.run(None, {self.input_name: matrix}))


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _is_bare_hgb(model: Any) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return isinstance(model, HistGradientBoostingClassifier)


def hgb_to_onnx(model: Any, n_features: int) -> tuple[bytes, Callable[[list[np.ndarray]], np.ndarray]]:
    """An exact ONNX graph of a fitted HistGradientBoostingClassifier (numeric features only).

    Every tree becomes part of one `TreeEnsembleRegressor` whose float64 thresholds are compared with
    the float64 input (`x <= threshold` goes left, NaN follows `missing_go_to_left`): the same leaves
    as scikit-learn. Leaf values are summed per class onto the baseline (the raw score); the
    sigmoid/softmax is applied here in float64, as scikit-learn's loss does.
    """
    from onnx import TensorProto, helper, numpy_helper
    from scipy.special import expit, softmax

    if not _is_bare_hgb(model):
        raise UnsupportedModel(f"{type(model).__name__} is not a HistGradientBoostingClassifier")
    categorical = getattr(model, "is_categorical_", None)
    if getattr(model, "_preprocessor", None) is not None or (categorical is not None and np.any(categorical)):
        raise UnsupportedModel("categorical features are not translated")
    per_iteration = int(model.n_trees_per_iteration_)
    attrs: dict[str, list[Any]] = {
        key: []
        for key in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
        )
    }
    thresholds: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    tree_id = 0
    for iteration in model._predictors:
        for target, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedModel("categorical splits are not translated")
            count = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            ids = np.arange(count)
            attrs["nodes_treeids"] += [tree_id] * count
            attrs["nodes_nodeids"] += ids.tolist()
            attrs["nodes_featureids"] += np.where(leaf, 0, nodes["feature_idx"]).astype(int).tolist()
            attrs["nodes_modes"] += ["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf]
            attrs["nodes_truenodeids"] += np.where(leaf, 0, nodes["left"]).astype(int).tolist()
            attrs["nodes_falsenodeids"] += np.where(leaf, 0, nodes["right"]).astype(int).tolist()
            missing_left = np.where(leaf, 0, nodes["missing_go_to_left"]).astype(int)
            attrs["nodes_missing_value_tracks_true"] += missing_left.tolist()
            thresholds.append(np.where(leaf, 0.0, nodes["num_threshold"]).astype(np.float64))
            attrs["target_treeids"] += [tree_id] * int(leaf.sum())
            attrs["target_nodeids"] += ids[leaf].tolist()
            attrs["target_ids"] += [target] * int(leaf.sum())
            weights.append(nodes["value"][leaf].astype(np.float64))
            tree_id += 1
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["X"],
        ["raw"],
        domain="ai.onnx.ml",
        n_targets=per_iteration,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_values_as_tensor=numpy_helper.from_array(np.concatenate(thresholds), "nodes_values"),
        target_weights_as_tensor=numpy_helper.from_array(np.concatenate(weights), "target_weights"),
        base_values_as_tensor=numpy_helper.from_array(baseline, "base_values"),
        **attrs,
    )
    graph = helper.make_graph(
        [node],
        "hist_gradient_boosting",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n_features])],
        # ONNX Runtime's kernel outputs float32 raw scores (summed in float64): ~1e-8 on a probability.
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, [None, per_iteration])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    onnx_model = helper.make_model(graph, opset_imports=opsets)
    onnx_model.ir_version = 8

    def to_proba(outputs: list[np.ndarray]) -> np.ndarray:
        raw = np.asarray(outputs[0], dtype=np.float64)
        if per_iteration == 1:
            positive = expit(raw[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return softmax(raw, axis=1)

    return onnx_model.SerializeToString(), to_proba


def skl2onnx_to_onnx(
    model: Any, n_features: int, dtype: type[np.floating]
) -> tuple[bytes, Callable[[list[np.ndarray]], np.ndarray]]:
    """Any model skl2onnx can convert (pipelines included), with a plain probability matrix output."""
    from skl2onnx import to_onnx

    final = _final_estimator(model)
    onnx_model = to_onnx(model, np.zeros((1, n_features), dtype=dtype), options={id(final): {"zipmap": False}})

    def to_proba(outputs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(outputs[-1], dtype=np.float64)

    return onnx_model.SerializeToString(), to_proba


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _compare(expected: np.ndarray, got: np.ndarray) -> tuple[bool, str]:
    if got.shape != expected.shape:
        return False, f"shape {got.shape} instead of {expected.shape}"
    gap = float(np.max(np.abs(got - expected))) if got.size else 0.0
    labels_differ = int(np.count_nonzero(got.argmax(axis=1) != expected.argmax(axis=1)))
    if not np.isfinite(gap) or gap > TOLERANCE or labels_differ:
        return False, f"max |Δp| {gap:.1e} (tolerance {TOLERANCE:.0e}), {labels_differ} label(s) differ"
    return True, f"max |Δp| {gap:.1e}"


def _candidates(model: Any, n_features: int, threads: int | None) -> list[tuple[str, Callable[[], OnnxPredictor]]]:
    if _is_bare_hgb(model):

        def hgb() -> OnnxPredictor:
            payload, to_proba = hgb_to_onnx(model, n_features)
            return OnnxPredictor(payload, np.float64, to_proba, threads=threads)

        return [("float64 tree ensemble", hgb)]

    def converted(dtype: type[np.floating]) -> Callable[[], OnnxPredictor]:
        def build() -> OnnxPredictor:
            payload, to_proba = skl2onnx_to_onnx(model, n_features, dtype)
            return OnnxPredictor(payload, dtype, to_proba, threads=threads)

        return build

    return [("skl2onnx float64", converted(np.float64)), ("skl2onnx float32", converted(np.float32))]


def make_predictor(
    model: Any, backend: str, columns: Sequence[str], sample: Any, *, threads: int | None = None
) -> Predictor:
    """The predictor for `backend` ("auto", "sklearn" or "onnx"), checked on `sample` when compiled.

    `sample` is a float64 matrix, or a DataFrame of typed columns for a model that takes text,
    booleans or missing values: then scikit-learn is used, and the note says why ONNX was not.

    `sample` is a few rows of the data being scored (the first `VERIFY_ROWS` are used). `threads`:
    ONNX Runtime's threads per call (default: the available CPUs; the streaming loop uses 1 and runs
    several calls at once). The returned predictor's `name` is the backend actually used and its
    `note` says why (including a fallback).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    reference = SklearnPredictor(model, list(columns))
    if backend == "sklearn":
        return reference
    if not isinstance(sample, np.ndarray):  # typed columns (text, booleans, missing values): a DataFrame
        reference.note = (
            "scikit-learn predict_proba (ONNX skipped: the model takes text, boolean or missing values, "
            "which the float64 ONNX graph cannot hold)"
        )
        (logger.warning if backend == "onnx" else logger.info)("scoring backend: %s", reference.note)
        return reference
    if backend == "auto" and not _is_bare_hgb(model):
        reference.note = f"scikit-learn predict_proba (auto: ONNX Runtime is not faster for {type(model).__name__})"
        return reference
    sample = np.ascontiguousarray(sample[:VERIFY_ROWS], dtype=np.float64)
    expected = reference.predict_proba(sample)
    failures = []
    for label, build in _candidates(model, len(columns), threads):
        try:
            predictor = build()
            same, detail = _compare(expected, predictor.predict_proba(sample))
        except Exception as exc:  # noqa: BLE001 - any conversion/runtime failure means: not this candidate
            failures.append(f"{label}: {_first_line(exc)}")
            continue
        if same:
            predictor.note = f"{predictor.note}, {label}, equal to scikit-learn on {len(sample)} rows ({detail})"
            logger.info("scoring backend: onnx: %s", predictor.note)
            return predictor
        failures.append(f"{label}: check failed on {len(sample)} rows: {detail}")
    reference.note = "scikit-learn predict_proba (ONNX fallback: " + "; ".join(failures) + ")"
    logger.warning("scoring backend: %s", reference.note)
    return reference
