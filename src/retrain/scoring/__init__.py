"""Building blocks of `retrain.scoring.engine`: input readers, prediction backends, output writers.

`retrain.scoring.engine` is the public face; these modules are split by role so each stays small:

- `readers`: stream the model's feature columns out of a CSV or Parquet file, as float64 matrices of a
  fixed number of rows, validated (missing column, non-numeric, missing or infinite value).
- `backends`: scikit-learn's own `predict_proba`, or ONNX Runtime after a check against scikit-learn.
- `writers`: `row, prediction, probability, model_version` to CSV or Parquet, with pyarrow.
"""

from __future__ import annotations


class ScoringInputError(ValueError):
    """The input file cannot be scored by this model; the message names the column (and row if known).

    `column` is the offending column (None when the problem is the file itself) and `row` the 0-based
    input row index of the first bad value, when it is known.
    """

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.row = row
