"""The data stage of retrain: pure functions from files to validated frames and back.

- `generate`: a seeded synthetic daily stream with drift (the default source).
- `load`: landing a user's own days from `RETRAIN_SOURCE` (plain files inside it only), and
  quarantining rejected ones.
- `csvfile`: the one CSV stack landing and scoring share (header checks, parse options, block sizes);
  `diagnose`: why pyarrow refused a file, by row and column, never crashing on what it cannot parse.
- `validate`: reading a day at the boundary, failing with a message that says what, where and how to fix.
- `prepare`: the training window, the fresh holdout days and the train/validation split.
- `errors`: `BadDataError`, the one error for a bad data file (`DataValidationError` is its old name).

Nothing here imports Airflow or MLflow, and this package imports nothing heavy on its own: import the
module you need (`from retrain.data import validate`), so that a caller pays only for what it uses.
"""

from retrain.data.errors import BadDataError, DataValidationError

TARGET = "target"
"""The label column, in target.csv and in the split files."""

__all__ = ["TARGET", "BadDataError", "DataValidationError"]
