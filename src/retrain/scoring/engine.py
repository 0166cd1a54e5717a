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

The output has one row per input row, in input order (DESIGN.md, "Outputs that tools read"):
`row` (0-based input row index), `prediction` (the label: `model.classes_[argmax(proba)]`, which is
what scikit-learn classifiers' `predict` returns), `probability` (binary: P(classes_[1]); multiclass:
the probability of the predicted label) and `model_version` (a string). Writes are atomic: on any
error no output file is left, and a previous one is untouched.

For Airflow's mapped tasks the same file is split into row ranges: `count_rows` → `plan_batches` →
`score_range` per range (each writes a part file) → `merge_parts` into `predictions.csv`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrain.io import atomic_path
from retrain.scoring import ScoringInputError, readers
from retrain.scoring.backends import BACKENDS, Predictor, SklearnPredictor, available_cpus, make_predictor
from retrain.scoring.writers import OUTPUT_COLUMNS, PredictionBatches, PredictionWriter, merge_files

__all__ = [
    "BACKENDS",
    "OUTPUT_COLUMNS",
    "ScoreStats",
    "ScoringInputError",
    "count_rows",
    "feature_columns",
    "merge_parts",
    "plan_batches",
    "score_file",
    "score_range",
]

logger = logging.getLogger("retrain.scoring.engine")

Progress = Callable[[int, "int | None"], None]
"""Called after each batch with (rows written so far, total rows if known: Parquet yes, CSV no)."""

_T = TypeVar("_T")
_PREFETCH = 1  # matrices read ahead of the ones being predicted (each batch_rows x features x 8 bytes)
_IN_FLIGHT = 1  # matrices being predicted while the previous one is written
_MIN_CHUNK_ROWS = 1_000  # a matrix is split across worker threads only in slices of at least this
_CALIBRATION_ROWS = 10_000
_PARSE_SECONDS_PER_VALUE = 45e-9  # pyarrow CSV → float64, one core (measured: 1.76 s CPU for 2M x 20)


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


def _background(items: Iterable[_T], depth: int = _PREFETCH) -> Iterator[_T]:
    """Iterate `items` in a thread, up to `depth` ahead; its exceptions are re-raised here, in order.

    Closing this generator early (an error downstream) stops the thread after its current item.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                put("item", item)
                if stop.is_set():
                    return
            put("done", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put("error", exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="retrain-score-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.1)
        thread.join()


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


def _single_threaded() -> None:
    """Pool initializer: OpenMP (HistGradientBoosting's predict) uses one thread in this thread.

    The OpenMP setting is per calling thread, so the caller's own threads are untouched. Several
    single-threaded predictions at once keep both cores busy without OpenMP's per-tree barriers,
    which stall whenever another thread (our reader, or another process) holds a core.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")


@contextlib.contextmanager
def _blas_single_threaded(active: bool) -> Iterator[None]:
    """BLAS (LogisticRegression's matrix product) on one thread per call while the pool scores.

    Unlike OpenMP's, OpenBLAS's thread count is process-wide, so it is set for the duration of the
    scoring and restored after. Measured: with 2 BLAS threads per call and 2 calls at once, OpenBLAS's
    spinning threads cost 1.7 s of CPU per 2M rows (for 0.1 s of work) and slowed the reader.
    """
    if not active:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _chunks(features: Any, workers: int) -> list[Any]:
    """Row slices (views) of a matrix, one per worker; small matrices are not split."""
    count = max(1, min(workers, len(features) // _MIN_CHUNK_ROWS))
    bounds = [len(features) * i // count for i in range(count + 1)]
    return [features[lo:hi] for lo, hi in zip(bounds, bounds[1:], strict=False)]


def _parse_bound(model: Any, columns: list[str], pool: ThreadPoolExecutor) -> bool:
    """True if one core predicts faster than it parses CSV (a linear model): then parsing is worth splitting.

    Timed on 10,000 synthetic rows in a pool thread (one core), against pyarrow's ~0.9 µs per row of
    20 floats (~45 ns per value). Tree ensembles take several µs per row: no split, less memory.
    """
    import warnings

    def timed() -> float:
        sample = np.zeros((_CALIBRATION_ROWS, len(columns)))
        predictor = SklearnPredictor(model, columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predictor.predict_proba(sample[:10])
            begun = time.perf_counter()
            predictor.predict_proba(sample)
        return (time.perf_counter() - begun) / _CALIBRATION_ROWS

    try:
        per_row = min(pool.submit(timed).result() for _ in range(3))  # best of 3: a preemption is not the model
    except Exception:  # noqa: BLE001 - a model that fails on zeros just is not split
        return False
    bound = per_row < _PARSE_SECONDS_PER_VALUE * len(columns)
    logger.info("predict_proba: %.2f µs per row on one core; CSV parsing split over the CPUs: %s", per_row * 1e6, bound)
    return bound


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

    Three stages overlap: a reader thread parses and checks the next matrices, `available_cpus()`
    worker threads predict slices of them (each single-threaded) and this thread writes finished
    batches in input order; at most `_PREFETCH` + `_IN_FLIGHT` + 1 matrices per reader are in memory.

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
    readers.open_features(input_path, columns, start=start, stop=stop)  # header checked before anything else
    total = None
    if progress is not None and readers.file_format(input_path) == "parquet":
        total = max(0, min(stop if stop is not None else 1 << 62, readers.count_rows(input_path)) - start)
    workers = available_cpus()
    with (
        _blas_single_threaded(workers > 1),
        ThreadPoolExecutor(
            workers, thread_name_prefix="retrain-score", initializer=_single_threaded if workers > 1 else None
        ) as pool,
    ):
        run = _Run(model, columns, batch_rows, model_version, backend, pool, workers, progress, total)
        segments = None
        csv_to_csv = out_format == "csv" and readers.file_format(input_path) == "csv"
        big = csv_to_csv and input_path.stat().st_size >= readers.MIN_SEGMENT_BYTES
        if split and workers > 1 and big and _parse_bound(model, columns, pool):
            segments = readers.csv_segments(input_path, workers)
        if segments:
            try:
                return run.segments(input_path, output_path, segments), run.predictor
            except (readers.SegmentMismatch, ScoringInputError) as exc:
                logger.info("parallel CSV segments gave up (%s); scoring with one reader", exc)
                run = _Run(model, columns, batch_rows, model_version, backend, pool, workers, progress, total)
        with atomic_path(output_path) as tmp:
            batches = readers.open_features(input_path, columns, start=start, stop=stop)
            rows = run.sources(input_path, [(tmp, batches, start)], output_path)
        return rows, run.predictor


class _Run:
    """One scoring pass: readers → worker threads → writers, in input order per output."""

    def __init__(
        self, model: Any, columns: list[str], batch_rows: int, model_version: str, backend: str,
        pool: ThreadPoolExecutor, workers: int, progress: Progress | None, total: int | None,
    ) -> None:
        self.model, self.columns, self.batch_rows, self.backend = model, columns, batch_rows, backend
        self.pool, self.workers, self.progress, self.total = pool, workers, progress, total
        self.outputs = PredictionBatches(model.classes_, model_version)
        self.predictor: Predictor | None = None
        self.rows = 0

    def segments(self, input_path: Path, output_path: Path, segments: list[readers.CsvSegment]) -> int:
        """Each CSV segment read by its own thread into its own part; the parts appended in order."""
        output_path.parent.mkdir(parents=True, exist_ok=True)
        parts = []
        try:
            for _ in segments[1:]:
                handle, name = tempfile.mkstemp(prefix=f".{output_path.name}.", suffix=".part", dir=output_path.parent)
                os.close(handle)
                parts.append(Path(name))
            with atomic_path(output_path) as tmp:
                sources = [
                    (target, readers.open_features(input_path, self.columns, segment=segment), segment.first_row)
                    for target, segment in zip([tmp, *parts], segments, strict=True)
                ]
                # The readers share one reader's memory: matrices of batch_rows / n rows each.
                rows = self.sources(input_path, sources, output_path, max(1, self.batch_rows // len(segments)))
                with open(tmp, "ab") as out:
                    for part in parts:
                        with open(part, "rb") as handle_in:
                            handle_in.readline()  # the part's own header
                            shutil.copyfileobj(handle_in, out, 8 << 20)
            return rows
        finally:
            for part in parts:
                part.unlink(missing_ok=True)

    def sources(
        self, input_path: Path, sources: list[tuple[Path, Iterator[Any], int]], fmt_path: Path,
        batch_rows: int | None = None,
    ) -> int:
        """Score each (target file, record batches, first row) source; their readers run concurrently."""
        in_flight: deque[tuple[PredictionWriter, int, list[Future[Any]]]] = deque()
        writers = [PredictionWriter(target, self.outputs.schema, fmt_path=fmt_path) for target, _, _ in sources]
        size = batch_rows or self.batch_rows
        readers_ = [
            _background(readers.matrices(batches, self.columns, size, first_row=first, path=input_path))
            for (_, batches, first) in sources
        ]
        limit = _IN_FLIGHT * len(sources)  # matrices of batch_rows / len(sources) rows
        try:
            active = list(zip(writers, readers_, strict=True))
            while active:  # round robin over the sources, one matrix each
                for writer, matrices in list(active):
                    item = next(matrices, None)
                    if item is None:
                        active.remove((writer, matrices))
                        continue
                    first_row, features = item
                    in_flight.append((writer, first_row, self._submit(features)))
                    while len(in_flight) > limit:
                        self._write_oldest(in_flight)
            while in_flight:
                self._write_oldest(in_flight)
        finally:
            for matrices in readers_:
                matrices.close()  # stops its reader thread (on an error here)
            for _, _, futures in in_flight:
                for future in futures:
                    future.cancel()
            for writer in writers:
                writer.close()
        return sum(writer.rows for writer in writers)

    def _submit(self, features: np.ndarray) -> list[Future[Any]]:
        if self.predictor is None:  # conversion and check on the first rows of this very input
            threads = 1 if self.workers > 1 else None
            self.predictor = self.pool.submit(
                make_predictor, self.model, self.backend, self.columns, features, threads=threads
            ).result()
        return [self.pool.submit(self.predictor.predict_proba, part) for part in _chunks(features, self.workers)]

    def _write_oldest(self, in_flight: deque[tuple[PredictionWriter, int, list[Future[Any]]]]) -> None:
        writer, first_row, futures = in_flight.popleft()
        proba = np.concatenate([future.result() for future in futures])
        writer.write(self.outputs.batch(first_row, proba))
        self.rows += len(proba)
        if self.progress is not None:
            self.progress(self.rows, self.total)


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


def merge_parts(parts: Sequence[Path | str], output_path: Path | str) -> int:
    """Concatenate part files in order into `output_path` (CSV or Parquet) atomically; rows merged.

    CSV parts into a CSV file are joined byte for byte (one header); each part must start at the row
    where the previous one ended, else `ValueError` and no output.
    """
    return merge_files([Path(p) for p in parts], Path(output_path))


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
