"""Write predictions (`row, prediction, probability, model_version`) to CSV or Parquet with pyarrow.

A multiclass model adds one column per class, `probability_<class>` in the model's class order
(`classes_`), after `model_version`: P(class) for every row, summing to 1 across the row.

pyarrow's CSV writer, never `pandas.to_csv` (~10x slower on this machine). Floats are written in their
shortest round-trip form, so a probability read back is the same float64. Strings (string labels, the
model version, the header) are quoted by pyarrow: standard CSV, read back unchanged by any reader.
Parquet: 100k-row row groups; dictionary encoding only for the label and the constant version.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retrain.scoring.readers import file_format

OUTPUT_COLUMNS = ("row", "prediction", "probability", "model_version")
PARQUET_ROW_GROUP_ROWS = 100_000
_CSV_WRITE_BATCH = 8_192


def probability_columns(classes: Sequence[Any]) -> list[str]:
    """The per-class probability columns: `probability_<class>` for each class when multiclass, else none."""
    return [f"probability_{c}" for c in classes] if len(classes) > 2 else []


def output_schema(classes: Sequence[Any]) -> pa.Schema:
    """The predictions schema; `prediction` has the type of the model's labels (`classes_`)."""
    label_type = pa.array(np.asarray(classes)).type
    return pa.schema(
        [("row", pa.int64()), ("prediction", label_type), ("probability", pa.float64()), ("model_version", pa.string())]
        + [(name, pa.float64()) for name in probability_columns(classes)]
    )


class PredictionBatches:
    """Turns class probabilities into output record batches: label = argmax, probability as in docs/DESIGN.md."""

    def __init__(self, classes: Sequence[Any], model_version: str) -> None:
        self.schema = output_schema(classes)
        self.labels = pa.array(np.asarray(classes), type=self.schema.field("prediction").type)
        self.version = pa.scalar(str(model_version), pa.string())
        self.per_class = bool(probability_columns(classes))

    def batch(self, first_row: int, proba: np.ndarray) -> pa.RecordBatch:
        count = len(proba)
        best = proba.argmax(axis=1)
        # Binary: probability of the positive class (classes_[1]); otherwise of the predicted label.
        probability = proba[:, 1] if proba.shape[1] == 2 else proba[np.arange(count), best]
        return pa.RecordBatch.from_arrays(
            [
                pa.array(np.arange(first_row, first_row + count, dtype=np.int64)),
                self.labels.take(pa.array(best)),
                pa.array(np.ascontiguousarray(probability, dtype=np.float64)),
                pa.repeat(self.version, count),
                *([pa.array(np.ascontiguousarray(column)) for column in proba.T] if self.per_class else []),
            ],
            schema=self.schema,
        )


class PredictionWriter:
    """Streams record batches into a CSV or Parquet file (format from the extension of `fmt_path`)."""

    def __init__(self, path: Path, schema: pa.Schema, *, fmt_path: Path | None = None) -> None:
        self.format = file_format(fmt_path or path, role="output")
        self.schema = schema
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._writer: Any
        if self.format == "csv":
            options = pacsv.WriteOptions(batch_size=_CSV_WRITE_BATCH)
            self._writer = pacsv.CSVWriter(str(path), schema, write_options=options)
        else:
            self._writer = pq.ParquetWriter(
                str(path), schema, compression="snappy", use_dictionary=["prediction", "model_version"]
            )

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self.format == "csv":
            self._writer.write_batch(batch)
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= PARQUET_ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending)
            self._writer.write_table(table, row_group_size=PARQUET_ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        if self.format == "parquet":
            self._flush()
        self._writer.close()
