"""Streaming batch scoring with bounded memory: a CSV or Parquet file in, `predictions.csv` out.

One pass over the input, in three overlapping stages:

1. a reader thread: pyarrow streams the model's feature columns in ~1 MiB blocks (other columns are
   never parsed), regroups them into float64 matrices of `batch_rows` rows and validates them;
2. one worker thread per CPU: `predict_proba` on a slice of each matrix, single-threaded inside
   (OpenMP and BLAS limited to one thread per call: no barriers, no spinning threads);
3. this thread: writes the finished batches in input order with pyarrow's CSV or Parquet writer.

Memory depends on `batch_rows`, not on the size of the file (a few matrices in flight). When the model
predicts faster than CSV parses (a linear model) and a large CSV is scored to CSV, the parsing itself
is spread over the CPUs: each reader takes a byte segment of the file (cut at newlines, only when
that is provably a row boundary) and writes a part that is appended in order at the end; if a
segment's row count does not match, the file is scored again with one reader.

The output has one row per input row, in input order (docs/DESIGN.md, "Outputs that tools read"):
`row` (0-based input row index), `prediction` (the label: `model.classes_[argmax(proba)]`, which is
what scikit-learn classifiers' `predict` returns), `probability` (binary: P(classes_[1]); multiclass:
the probability of the predicted label) and `model_version` (a string). Writes are atomic: on any
error no output file is left, and a previous one is untouched.

For Airflow's mapped tasks the same file is split into row ranges: `count_rows` → `plan_batches` →
`score_range` per range (each writes a part file) → `merge_parts` into `predictions.csv`.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retrain.io import atomic_path
from retrain.scoring import ScoringInputError, pipeline, readers
from retrain.scoring.backends import AUTO_ONNX_MIN_ROWS, BACKENDS, Predictor, available_cpus
from retrain.scoring.merge import merge_parts
from retrain.scoring.pipeline import Progress
from retrain.scoring.writers import OUTPUT_COLUMNS

__all__ = [
    "BACKENDS",
    "OUTPUT_COLUMNS",
    "Progress",
    "ScoreStats",
    "ScoringInputError",
    "count_rows",
    "feature_columns",
    "feature_kinds",
    "merge_parts",
    "peak_rss_mb",
    "plan_batches",
    "score_file",
    "score_range",
]

logger = logging.getLogger("retrain.scoring.engine")


@dataclass(frozen=True)
class ScoreStats:
    """What one scoring pass did; `peak_rss_mb` is the process's peak resident memory so far."""

    rows: int
    seconds: float
    rows_per_s: float
    peak_rss_mb: float
    backend: str = "sklearn"
    backend_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MiB.

    Linux: `VmHWM` of /proc/self/status. Not `ru_maxrss`, which a child process inherits from the
    parent it was forked from (a worker started by a 400 MB parent reports >= 400 MB). Elsewhere:
    `ru_maxrss` (bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def feature_columns(model: Any) -> list[str]:
    """The input columns the model was fitted on, in its order (`feature_names_in_`, pipelines included)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ValueError(
            f"{type(model).__name__} has no feature_names_in_: it was fitted on an array without column "
            "names, so the input columns cannot be matched by name; fit it on a DataFrame, or pass columns="
        )
    return [str(name) for name in names]


def feature_kinds(model: Any) -> dict[str, str] | None:
    """The kind of each input column (`retrain.data.kinds`) of a model that takes text, booleans or missing values.

    None for a model trained on numbers only with none missing (or with no feature schema): it is
    scored from float64 matrices, with its ONNX and parallel-parsing fast paths, and a missing value
    is refused as before.
    """
    return schema_kinds(getattr(model, "feature_schema_", None))


def schema_kinds(data: dict[str, Any] | None) -> dict[str, str] | None:
    """`feature_kinds` from a model's feature schema as stored (`FeatureSchema.to_dict`), or None."""
    if not isinstance(data, dict):
        return None
    from retrain.model.schema import FeatureSchema

    schema = FeatureSchema.from_dict(data)
    if schema.all_numeric_complete:
        return None
    return {c.name: c.kind for c in schema.columns}


def count_rows(input_path: Path | str) -> int:
    """Data rows of a CSV (streamed with pyarrow `open_csv`) or Parquet file (from its footer)."""
    return readers.count_rows(Path(input_path))


def plan_batches(n_rows: int, batch_rows: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of at most `batch_rows` rows covering `n_rows` rows, in order.

    An empty input gives one empty range `[(0, 0)]`, not `[]`: a mapped Airflow task over an empty
    list is skipped together with everything downstream, and an empty day must still produce a
    `predictions.csv` (header only).
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if n_rows == 0:
        return [(0, 0)]
    return [(start, min(start + batch_rows, n_rows)) for start in range(0, n_rows, batch_rows)]


def _resolve_columns(model: Any, columns: Sequence[str] | None) -> list[str]:
    if not hasattr(model, "classes_") or not hasattr(model, "predict_proba"):
        raise ValueError(f"{type(model).__name__} is not a fitted classifier with predict_proba and classes_")
    if columns is None:
        return feature_columns(model)
    columns = [str(c) for c in columns]
    names = getattr(model, "feature_names_in_", None)
    if names is not None and columns != [str(n) for n in names]:
        raise ValueError(f"columns {columns} are not the model's features {list(names)} (in the model's order)")
    expected = getattr(model, "n_features_in_", len(columns))
    if len(columns) != expected:
        raise ValueError(f"the model takes {expected} features, got {len(columns)} columns")
    return columns


def _rows_estimate(path: Path, start: int, stop: int | None, sample_bytes: int = 1 << 20) -> int:
    """About how many data rows [start, stop) of `path` holds, read without parsing it.

    Parquet: its footer's row count. CSV: the file's size times the line density of its first
    `sample_bytes` (exact for a file that small); good enough to choose a backend, not to count.
    """
    if readers.file_format(path) == "parquet":
        found = readers.count_rows(path)
    else:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(sample_bytes)
        lines = head.count(b"\n") + (0 if head.endswith(b"\n") or not head else 1)
        found = max(0, lines - 1) if size <= len(head) else int(size * lines / max(1, len(head)))
    return max(0, min(found, stop if stop is not None else found) - start)


def _stream(
    model: Any,
    input_path: Path,
    output_path: Path,
    *,
    columns: list[str],
    start: int,
    stop: int | None,
    batch_rows: int,
    model_version: str,
    backend: str,
    progress: Progress | None,
    split: bool = False,
) -> tuple[int, Predictor | None]:
    """Score rows [start, stop) of `input_path` into `output_path` (atomically); rows and predictor used.

    Three stages overlap (`retrain.scoring.pipeline`): a reader thread parses and checks the next
    matrices, `available_cpus()` worker threads predict slices of them (each single-threaded) and this
    thread writes finished batches in input order; at most `PREFETCH` + `IN_FLIGHT` + 1 matrices per
    reader are in memory.

    With `split` (whole CSV to CSV), a model that predicts faster than CSV parses (a linear model)
    gets one reader per CPU, each on a byte segment of the file (`readers.csv_segments`); segment k
    writes a temporary part appended to the output at the end. If a segment does not hold the rows
    its newline count promised, or the input is bad, the whole file is scored again with one reader,
    so the output (or the error) is exactly that of the plain path.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if output_path.resolve() == input_path.resolve():
        raise ValueError(f"output {output_path} would overwrite the input")
    out_format = readers.file_format(output_path, role="output")
    kinds = feature_kinds(model)
    readers.open_features(input_path, columns, start=start, stop=stop)  # header checked before anything else
    if backend == "auto" and _rows_estimate(input_path, start, stop) < AUTO_ONNX_MIN_ROWS:
        backend = "sklearn"  # the conversion would cost more than it saves (see AUTO_ONNX_MIN_ROWS)
    total = None
    if progress is not None and readers.file_format(input_path) == "parquet":
        total = max(0, min(stop if stop is not None else 1 << 62, readers.count_rows(input_path)) - start)
    workers = available_cpus()
    with (
        pipeline.blas_single_threaded(workers > 1),
        ThreadPoolExecutor(
            workers, thread_name_prefix="retrain-score", initializer=pipeline.single_threaded if workers > 1 else None
        ) as pool,
    ):
        run = pipeline.Run(model, columns, batch_rows, model_version, backend, pool, workers, progress, total, kinds)
        segments = None
        csv_to_csv = out_format == "csv" and readers.file_format(input_path) == "csv"
        big = csv_to_csv and input_path.stat().st_size >= readers.MIN_SEGMENT_BYTES
        if split and kinds is None and workers > 1 and big and pipeline.parse_bound(model, columns, pool):
            segments = readers.csv_segments(input_path, workers)
        if segments:
            try:
                return run.segments(input_path, output_path, segments), run.predictor
            except (readers.SegmentMismatch, ScoringInputError) as exc:
                logger.info("parallel CSV segments gave up (%s); scoring with one reader", exc)
                run = pipeline.Run(
                    model, columns, batch_rows, model_version, backend, pool, workers, progress, total, kinds
                )
        with atomic_path(output_path) as tmp:
            batches = readers.open_features(input_path, columns, start=start, stop=stop, kinds=kinds)
            rows = run.sources(input_path, [(tmp, batches, start)], output_path)
        return rows, run.predictor


def score_range(
    model: Any,
    input_path: Path | str,
    start: int,
    stop: int,
    output_path: Path | str,
    *,
    model_version: str,
    columns: Sequence[str],
    backend: str = "auto",
    batch_rows: int | None = None,
) -> int:
    """Score input rows [start, stop) into a part file (CSV, or Parquet by extension); rows written.

    `row` holds the absolute input row index, so parts merge back with `merge_parts`. The rows before
    `start` are not parsed (see `retrain.scoring.readers`). `columns` are the model's feature columns
    (`feature_columns(model)`, computed once by the caller so that every part checks the same list).
    `batch_rows` bounds memory inside the range (default: the whole range, as planned).
    """
    if stop < start:
        raise ValueError(f"invalid row range [{start}, {stop})")
    input_path, output_path = Path(input_path), Path(output_path)
    begun = time.perf_counter()
    rows, predictor = _stream(
        model,
        input_path,
        output_path,
        columns=_resolve_columns(model, columns),
        start=start,
        stop=stop,
        batch_rows=batch_rows or max(stop - start, 1),
        model_version=str(model_version),
        backend=backend,
        progress=None,
    )
    logger.info(
        "scored rows [%d, %d) of %s into %s: %d rows in %.2f s (%s)",
        start,
        stop,
        input_path,
        output_path,
        rows,
        time.perf_counter() - begun,
        predictor.note if predictor else "no rows",
    )
    return rows


def score_file(
    model: Any,
    input_path: Path | str,
    output_path: Path | str,
    *,
    batch_rows: int,
    model_version: str,
    progress: Progress | None = None,
    backend: str = "auto",
    columns: Sequence[str] | None = None,
) -> ScoreStats:
    """Score a whole CSV or Parquet file into a CSV or Parquet file (formats from the extensions).

    One streaming pass in memory bounded by `batch_rows` (≈100k is the measured sweet spot).
    `backend`: "sklearn", "onnx" (checked against scikit-learn, else falls back) or "auto" (ONNX only
    where it was measured faster: HistGradientBoosting); `ScoreStats.backend` says which one ran.
    Raises `ScoringInputError` for a missing column or a bad value, leaving no output file.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    begun = time.perf_counter()
    rows, predictor = _stream(
        model,
        input_path,
        output_path,
        columns=_resolve_columns(model, columns),
        start=0,
        stop=None,
        batch_rows=batch_rows,
        model_version=str(model_version),
        backend=backend,
        progress=progress,
        split=True,
    )
    seconds = time.perf_counter() - begun
    stats = ScoreStats(
        rows=rows,
        seconds=seconds,
        rows_per_s=rows / seconds if seconds > 0 else 0.0,
        peak_rss_mb=peak_rss_mb(),
        backend=predictor.name if predictor else ("sklearn" if backend == "auto" else backend),
        backend_note=predictor.note if predictor else "no rows",
    )
    logger.info(
        "scored %s into %s: %d rows in %.2f s (%.0f rows/s), %s",
        input_path,
        output_path,
        rows,
        seconds,
        stats.rows_per_s,
        stats.backend_note,
    )
    return stats
