"""Batch scoring: a CSV or Parquet file of features in, `predictions.csv` (or Parquet) out.

The public face (import these from `retrain.scoring`):

- `score_file(model, input, output, ...)`: a whole file, one streaming pass in bounded memory.
- `count_rows` → `plan_batches` → `score_range` per row range → `merge_parts` / `merge_scored`: the same
  file split into row ranges, for Airflow's mapped `predict_batch` tasks.
- `feature_columns(model)`: the columns a model reads (every other column of a file is never parsed).
- `ScoringInputError`: the input cannot be scored by this model (names the column and row); it is
  `retrain.data.errors.BadDataError`, the one error for a bad data file.

The modules behind it, split by job so each stays small:

- `engine`: plans a pass (which rows, which columns, one reader or one per CSV segment) and runs it.
- `pipeline`: the three overlapping stages of a pass (reader thread, worker threads, ordered writer).
- `readers`: stream the model's feature columns out of a CSV or Parquet file, as float64 matrices of a
  fixed number of rows (or, for a model that takes text, booleans or missing values, DataFrames of
  typed columns: `engine.feature_kinds`), validated (missing column, non-numeric, missing or infinite value) with the
  data stage's file checks (`retrain.data.csvfile`), so landing and scoring accept the same files;
  `checks` holds the value checks both formats share.
- `backends`: scikit-learn's own `predict_proba`, or ONNX Runtime after a check against scikit-learn.
- `writers`: `row, prediction, probability, model_version` to CSV or Parquet, with pyarrow.
- `merge`: the parts of a day joined in input order, refusing gaps and mixed model versions.

The engine's names are loaded on first use (PEP 562), so `import retrain.scoring` stays cheap for code
that only needs `ScoringInputError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from retrain.data.errors import BadDataError

if TYPE_CHECKING:
    from retrain.scoring.engine import (
        ScoreStats,
        count_rows,
        feature_columns,
        feature_kinds,
        plan_batches,
        score_file,
        score_range,
    )
    from retrain.scoring.merge import MixedModelsError, ScoredPart, merge_parts, merge_scored

__all__ = [
    "MixedModelsError",
    "ScoreStats",
    "ScoredPart",
    "ScoringInputError",
    "count_rows",
    "feature_columns",
    "feature_kinds",
    "merge_parts",
    "merge_scored",
    "plan_batches",
    "score_file",
    "score_range",
]

_LAZY = {
    "ScoreStats": "retrain.scoring.engine",
    "count_rows": "retrain.scoring.engine",
    "feature_columns": "retrain.scoring.engine",
    "feature_kinds": "retrain.scoring.engine",
    "plan_batches": "retrain.scoring.engine",
    "score_file": "retrain.scoring.engine",
    "score_range": "retrain.scoring.engine",
    "MixedModelsError": "retrain.scoring.merge",
    "ScoredPart": "retrain.scoring.merge",
    "merge_parts": "retrain.scoring.merge",
    "merge_scored": "retrain.scoring.merge",
}


ScoringInputError = BadDataError
"""The input file cannot be scored by this model: the data stage's one error type under its scoring name.

`column` is the offending column (None when the problem is the file itself) and `row` the 0-based
input row index of the first bad value, when it is known.
"""


def __getattr__(name: str) -> Any:
    """Resolve a public name of the engine or the merge on first use (looked up each time, not cached,
    so a test or a fault injection that patches `retrain.scoring.engine.score_range` is honoured)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'retrain.scoring' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
