"""Write predictions (`row, prediction, probability, model_version`) to CSV or Parquet with pyarrow.

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

from retrain.io import atomic_path
from retrain.scoring.readers import file_format

OUTPUT_COLUMNS = ("row", "prediction", "probability", "model_version")
PARQUET_ROW_GROUP_ROWS = 100_000
_CSV_WRITE_BATCH = 8_192


def output_schema(classes: Sequence[Any]) -> pa.Schema:
    """The predictions schema; `prediction` has the type of the model's labels (`classes_`)."""
    label_type = pa.array(np.asarray(classes)).type
    return pa.schema(
        [("row", pa.int64()), ("prediction", label_type), ("probability", pa.float64()), ("model_version", pa.string())]
    )


class PredictionBatches:
    """Turns class probabilities into output record batches: label = argmax, probability as in DESIGN.md."""

    def __init__(self, classes: Sequence[Any], model_version: str) -> None:
        self.schema = output_schema(classes)
        self.labels = pa.array(np.asarray(classes), type=self.schema.field("prediction").type)
        self.version = pa.scalar(str(model_version), pa.string())

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


def _check_contiguous(part: Path, first_row: int | None, expected: int) -> None:
    if first_row is not None and first_row != expected:
        raise ValueError(
            f"part {part} starts at row {first_row}, expected {expected}: parts are missing or out of order"
        )


def _concat_csv(parts: Sequence[Path], output: Path) -> int:
    """Byte-level concatenation of CSV parts written by `PredictionWriter` (no parsing)."""
    rows = 0
    header: bytes | None = None
    with open(output, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                first_line = handle.readline()
                if header is None:
                    header = first_line
                    out.write(first_line)
                elif first_line != header:
                    raise ValueError(f"part {part} has header {first_line!r}, expected {header!r}")
                position = handle.tell()
                data_line = handle.readline()
                first_row = int(data_line.split(b",", 1)[0]) if data_line else None
                _check_contiguous(part, first_row, rows)
                handle.seek(position)
                # The writer puts each row on one line (labels and versions have no newline).
                while chunk := handle.read(8 << 20):
                    out.write(chunk)
                    rows += chunk.count(b"\n")
    return rows


def _read_part(part: Path) -> pa.Table:
    if file_format(part, role="part") == "parquet":
        return pq.read_table(part)
    return pacsv.read_csv(part, convert_options=pacsv.ConvertOptions(column_types={"model_version": pa.string()}))


def merge_files(parts: Sequence[Path], output: Path, *, empty_schema: pa.Schema | None = None) -> int:
    """Concatenate prediction parts, in order, into `output` atomically; returns the number of rows.

    CSV parts into a CSV output are concatenated byte for byte (the header once); other combinations
    are re-read part by part (one part in memory at a time) and written by `PredictionWriter`. Each
    part must start at the row where the previous one ended.
    """
    parts = [Path(p) for p in parts]
    output = Path(output)
    out_format = file_format(output, role="output")
    with atomic_path(output) as tmp:
        if out_format == "csv" and parts and all(file_format(p, role="part") == "csv" for p in parts):
            return _concat_csv(parts, tmp)
        writer: PredictionWriter | None = None
        rows = 0
        try:
            if not parts:
                schema = empty_schema or output_schema(np.array([], dtype=object))
                writer = PredictionWriter(tmp, schema, fmt_path=output)
            for part in parts:
                table = _read_part(part)
                if list(table.column_names) != list(OUTPUT_COLUMNS):
                    raise ValueError(f"part {part} has columns {table.column_names}, expected {list(OUTPUT_COLUMNS)}")
                if table.num_rows:
                    _check_contiguous(part, table.column("row")[0].as_py(), rows)
                if writer is None:
                    writer = PredictionWriter(tmp, table.schema, fmt_path=output)
                for batch in table.cast(writer.schema).to_batches():
                    writer.write(batch)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows
