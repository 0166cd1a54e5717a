"""Merge prediction parts (one per row range, `retrain.scoring.engine.score_range`) into one file.

Airflow's mapped `predict_batch` tasks each score a row range of the day into a part file; the parts are
joined here, in input order, into `predictions/{ds}/predictions.csv`. The merge refuses anything that
would silently corrupt the day: parts out of order or missing (the `row` column must continue where the
previous part ended), parts with other columns, or parts scored by different model versions
(`merge_scored`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retrain.io import atomic_path
from retrain.scoring.readers import file_format
from retrain.scoring.writers import OUTPUT_COLUMNS, PredictionWriter, output_schema

__all__ = ["MixedModelsError", "ScoredPart", "merge_parts", "merge_scored"]


class MixedModelsError(ValueError):
    """The parts of one day were scored by different model versions; nothing was merged."""


@dataclass(frozen=True)
class ScoredPart:
    """One scored row range: the part file, where it starts, and which model version scored it.

    Attributes:
        part: The part file (CSV or Parquet).
        start: The first input row (0-based) the part holds.
        rows: Rows in the part.
        version: The model version that scored it (a concrete registry version, never an alias).
    """

    part: str
    start: int
    rows: int
    version: str


def merge_scored(parts: Sequence[ScoredPart], output: Path | str) -> tuple[int, str | None]:
    """Merge the parts of one day in input order (by `start`) into `output`; (rows, model version).

    Raises:
        MixedModelsError: When the parts were scored by more than one model version (cannot happen
            with a model pinned once per run: refused rather than writing a mixed day).
        ValueError: As `merge_parts`.
    """
    ordered = sorted(parts, key=lambda p: p.start)
    versions = sorted({str(p.version) for p in ordered})
    if len(versions) > 1:
        raise MixedModelsError(f"batches were scored with different models {versions}; rerun the day")
    rows = merge_parts([Path(p.part) for p in ordered], output)
    return rows, (versions[0] if versions else None)


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


def merge_parts(parts: Sequence[Path | str], output: Path | str, *, empty_schema: pa.Schema | None = None) -> int:
    """Concatenate prediction parts, in order, into `output` (CSV or Parquet) atomically; rows merged.

    CSV parts into a CSV output are concatenated byte for byte (the header once); other combinations
    are re-read part by part (one part in memory at a time) and written by `PredictionWriter`. Each
    part must start at the row where the previous one ended.

    Raises:
        ValueError: When a part starts elsewhere than where the previous one ended (parts missing or
            out of order), or has other columns or another header; no output is written then.
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
                names = list(table.column_names)
                extra = names[len(OUTPUT_COLUMNS) :]
                if names[: len(OUTPUT_COLUMNS)] != list(OUTPUT_COLUMNS) or not all(
                    n.startswith("probability_") for n in extra
                ):
                    raise ValueError(f"part {part} has columns {names}, expected {list(OUTPUT_COLUMNS)}")
                if writer is not None and names != writer.schema.names:
                    raise ValueError(f"part {part} has columns {names}, expected {writer.schema.names}")
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
