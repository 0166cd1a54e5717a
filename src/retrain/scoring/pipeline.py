"""The three overlapping stages of one scoring pass: a reader thread, worker threads, the writer.

`retrain.scoring.engine` decides WHAT to score (which rows, which columns, one reader or one per CSV
segment); this module runs it:

1. `background` iterates a reader (pyarrow streaming + checks, `retrain.scoring.readers`) in its own
   thread, at most `PREFETCH` matrices ahead;
2. `Run` submits slices of each matrix (`chunks`) to a pool of single-threaded workers
   (`single_threaded`, `blas_single_threaded`: no OpenMP barriers, no spinning BLAS threads);
3. `Run` writes the finished batches in input order with `retrain.scoring.writers`.

At most `PREFETCH` + `IN_FLIGHT` + 1 matrices per reader are in memory, whatever the file's size.
`parse_bound` tells the engine whether CSV parsing, rather than the model, is the bottleneck.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrain.io import atomic_path
from retrain.scoring import readers
from retrain.scoring.backends import Predictor, SklearnPredictor, make_predictor
from retrain.scoring.writers import PredictionBatches, PredictionWriter

__all__ = [
    "IN_FLIGHT",
    "MATRIX_ROWS",
    "PREFETCH",
    "Progress",
    "Run",
    "background",
    "blas_single_threaded",
    "chunks",
    "parse_bound",
]

logger = logging.getLogger("retrain.scoring.engine")

Progress = Callable[[int, "int | None"], None]
"""Called after each batch with (rows written so far, total rows if known: Parquet yes, CSV no)."""

_T = TypeVar("_T")
PREFETCH = 1
"""Matrices read ahead of the ones being predicted (each batch_rows x features x 8 bytes)."""
IN_FLIGHT = 1
"""Matrices being predicted while the previous one is written."""
MATRIX_ROWS = 25_000
"""Rows of one in-memory matrix at most, whatever `batch_rows` asks (a mapped task's range is one batch).

Four matrices are alive at once (one being built, one queued, two being predicted). Measured on
2M x 20 rows (`retrain predict`, Parquet, HGB(200), ONNX backend, reading one row group at a time):
peak RSS 559 MB with 100k-row matrices, 522 MB with 50k, ~500 MB with 25k, at the same rows/s
(~340 MB of it is imports and the model). Smaller matrices mean more, cheaper calls: a 12.5k-row
slice per worker is still far above the per-call overhead of scikit-learn or ONNX Runtime.
"""
_MIN_CHUNK_ROWS = 1_000  # a matrix is split across worker threads only in slices of at least this
_CALIBRATION_ROWS = 10_000
_PARSE_SECONDS_PER_VALUE = 45e-9  # pyarrow CSV → float64, one core (measured: 1.76 s CPU for 2M x 20)


def background(items: Iterable[_T], depth: int = PREFETCH) -> Iterator[_T]:
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


def single_threaded() -> None:
    """Pool initializer: OpenMP (HistGradientBoosting's predict) uses one thread in this thread.

    The OpenMP setting is per calling thread, so the caller's own threads are untouched. Several
    single-threaded predictions at once keep both cores busy without OpenMP's per-tree barriers,
    which stall whenever another thread (our reader, or another process) holds a core.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")


@contextlib.contextmanager
def blas_single_threaded(active: bool) -> Iterator[None]:
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


def chunks(features: Any, workers: int) -> list[Any]:
    """Row slices (views) of a matrix or DataFrame, one per worker; small ones are not split."""
    count = max(1, min(workers, len(features) // _MIN_CHUNK_ROWS))
    bounds = [len(features) * i // count for i in range(count + 1)]
    rows = features.iloc if hasattr(features, "iloc") else features  # a DataFrame of typed columns, or a matrix
    return [rows[lo:hi] for lo, hi in zip(bounds, bounds[1:], strict=False)]


def parse_bound(model: Any, columns: list[str], pool: ThreadPoolExecutor) -> bool:
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


class Run:
    """One scoring pass: readers → worker threads → writers, in input order per output."""

    def __init__(
        self,
        model: Any,
        columns: list[str],
        batch_rows: int,
        model_version: str,
        backend: str,
        pool: ThreadPoolExecutor,
        workers: int,
        progress: Progress | None,
        total: int | None,
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.model, self.columns, self.backend = model, columns, backend
        self.batch_rows = max(1, min(batch_rows, MATRIX_ROWS))
        self.kinds = kinds  # None: float64 matrices; else typed DataFrames (`checks.to_frame`)
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
                    (
                        target,
                        readers.open_features(input_path, self.columns, segment=segment, kinds=self.kinds),
                        segment.first_row,
                    )
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
        self,
        input_path: Path,
        sources: list[tuple[Path, Iterator[Any], int]],
        fmt_path: Path,
        batch_rows: int | None = None,
    ) -> int:
        """Score each (target file, record batches, first row) source; their readers run concurrently."""
        in_flight: deque[tuple[PredictionWriter, int, list[Future[Any]]]] = deque()
        writers = [PredictionWriter(target, self.outputs.schema, fmt_path=fmt_path) for target, _, _ in sources]
        size = batch_rows or self.batch_rows
        readers_ = [
            background(
                readers.matrices(batches, self.columns, size, first_row=first, path=input_path, kinds=self.kinds)
            )
            for (_, batches, first) in sources
        ]
        limit = IN_FLIGHT * len(sources)  # matrices of batch_rows / len(sources) rows
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

    def _submit(self, features: Any) -> list[Future[Any]]:
        if self.predictor is None:  # conversion and check on the first rows of this very input
            threads = 1 if self.workers > 1 else None
            self.predictor = self.pool.submit(
                make_predictor, self.model, self.backend, self.columns, features, threads=threads
            ).result()
        return [self.pool.submit(self.predictor.predict_proba, part) for part in chunks(features, self.workers)]

    def _write_oldest(self, in_flight: deque[tuple[PredictionWriter, int, list[Future[Any]]]]) -> None:
        writer, first_row, futures = in_flight.popleft()
        proba = np.concatenate([future.result() for future in futures])
        writer.write(self.outputs.batch(first_row, proba))
        self.rows += len(proba)
        if self.progress is not None:
            self.progress(self.rows, self.total)
