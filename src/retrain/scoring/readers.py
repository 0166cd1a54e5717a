"""Stream a model's feature columns out of a CSV or Parquet file, in bounded memory.

The measured recipe (DESIGN.md, "Performance facts"): CSV through `pyarrow.csv.open_csv` with ~1 MiB
blocks and the feature columns declared float64 (other columns are never parsed); Parquet through
`ParquetFile.iter_batches` with `pre_buffer=False`. The small blocks are regrouped into matrices of
`batch_rows` rows (≈100k) for `predict_proba`, so memory depends on the batch size, not the file size.

Row ranges (one mapped task scores rows [start, stop) of the same file): in Parquet the row groups
before `start` are skipped using the footer, nothing is read. In a CSV, pyarrow skips the rows before
`start` itself (`skip_rows_after_names`, with `newlines_in_values` so quoted newlines are honoured):
they are tokenized, never converted, at ~2.6 M rows/s here, so the last 100k rows of a 2M-row file
cost ~0.75 s more than the first. That is exact and agrees with `count_rows` on every CSV pyarrow
reads. Measured and rejected: seeking to a byte offset found by counting newlines. A bare count is
fast (0.35 s to row 1.9M) but wrong with quoted newlines or blank lines; the checks that make it
exact (no quote / CR / blank line before the row) made the Python scan 2.3 s, slower than pyarrow.
A one-pass byte-offset index shared by all mapped tasks would remove the skip entirely; it is not
worth a wider API while a mapped task's start-up (seconds) dwarfs its skip.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retrain.scoring import ScoringInputError

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

# pyarrow CSV block: ~1 MiB parses at ~1.2 M rows/s of 20 floats in ~170 MiB; 37 MiB blocks are 3.4x slower.
# The streaming reader keeps ~32 blocks in flight (~36 MB at 1 MiB, ~18 MB at 512 KiB; measured).
CSV_BLOCK_BYTES = 1 << 20
_CSV_COLUMN_ERROR = re.compile(r"In CSV column #(\d+)")
# Quoted values may hold newlines: without this pyarrow may cut a block (or skip rows) inside one.
# Measured: no slower on plain numeric files.
_PARSE = pacsv.ParseOptions(newlines_in_values=True)
# A CSV is cut into segments parsed in parallel only from this size on.
MIN_SEGMENT_BYTES = 32 << 20
_SCAN_BYTES = 8 << 20


class SegmentMismatch(Exception):
    """A CSV segment did not hold the rows its newline count promised (blank lines, lone CRs)."""


def file_format(path: Path, *, role: str = "input") -> str:
    """`"csv"` or `"parquet"`, from the file name's extension; anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    accepted = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise ScoringInputError(f"{role} file {path} has extension {suffix or '(none)'!r}; expected one of {accepted}")


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (its first record; quoting and a UTF-8 BOM are understood)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            return next(csv.reader(handle))
        except StopIteration:
            raise ScoringInputError(f"input file {path} is empty: no header row") from None


def check_columns(available: Sequence[str], needed: Sequence[str], path: Path) -> None:
    """Every feature column must be present exactly once; extra columns are fine, order is irrelevant."""
    present = set(available)
    missing = [name for name in needed if name not in present]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ScoringInputError(
            f"input file {path} is missing column(s) {shown} that the model needs "
            f"(the model uses {len(needed)} columns; the file has {len(available)})",
            column=missing[0],
        )
    for name in needed:
        if list(available).count(name) > 1:
            raise ScoringInputError(f"input file {path} has column {name!r} more than once", column=name)


def count_rows(path: Path) -> int:
    """Data rows of a CSV (streamed by pyarrow, one column as text) or a Parquet file (its footer)."""
    path = Path(path)
    if file_format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    first = csv_header(path)[:1]
    if not first:
        return 0
    convert = pacsv.ConvertOptions(include_columns=first, column_types={first[0]: pa.string()})
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    reader = pacsv.open_csv(path, read_options=read, parse_options=_PARSE, convert_options=convert)
    return sum(batch.num_rows for batch in reader)


@dataclass(frozen=True)
class CsvSegment:
    """Bytes [start, stop) of a CSV, holding data rows from `first_row` (`rows` of them; None: the rest).

    Segment 0 starts at byte 0 and includes the header; the others start at a row boundary.
    """

    start: int
    stop: int
    first_row: int
    rows: int | None
    block_bytes: int = CSV_BLOCK_BYTES


def csv_segments(path: Path, parts: int) -> list[CsvSegment] | None:
    """Cut a CSV at newlines into `parts` byte ranges of similar size, for parallel parsing; None if unsafe.

    A newline is a row boundary only outside quotes, so the data before the last cut must hold no
    quote at all (one memchr-speed pass that also counts the newlines, i.e. each segment's first row).
    Blank lines or lone CRs would make that count wrong: each segment then checks its row count
    when it ends (`SegmentMismatch`), and the caller falls back to one reader.
    """
    size = Path(path).stat().st_size
    if parts < 2 or size < MIN_SEGMENT_BYTES:
        return None
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
        header_end = head.find(b"\n")
        if header_end < 0 or head.count(b'"', 0, header_end) % 2:
            return None
        data_start = header_end + 1
        bounds = [data_start]
        for k in range(1, parts):
            target = data_start + (size - data_start) * k // parts
            handle.seek(target)
            newline = handle.read(1 << 20).find(b"\n")
            if newline < 0 or target + newline + 1 <= bounds[-1] or target + newline + 1 >= size:
                return None
            bounds.append(target + newline + 1)
        handle.seek(data_start)
        position, rows, firsts = data_start, 0, [0]
        for bound in bounds[1:]:
            while position < bound:
                chunk = handle.read(min(_SCAN_BYTES, bound - position))
                if b'"' in chunk:
                    return None
                rows += chunk.count(b"\n")
                position += len(chunk)
            firsts.append(rows)
    bounds.append(size)
    block = max(CSV_BLOCK_BYTES // parts, 256 << 10)
    return [
        CsvSegment(0 if k == 0 else bounds[k], bounds[k + 1], firsts[k],
                   firsts[k + 1] - firsts[k] if k + 1 < parts else None, block)
        for k in range(parts)
    ]


class _CsvStream:
    """pyarrow's streaming CSV reader from data row `start` of `path`, or over one segment of it.

    Rows before `start` are skipped by pyarrow (tokenized, not converted).
    """

    def __init__(
        self, path: Path, convert: pacsv.ConvertOptions, start: int, segment: CsvSegment | None = None,
        names: list[str] | None = None,
    ) -> None:
        self._file: pa.NativeFile | None = None
        source: object = path
        read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, skip_rows_after_names=start)
        if segment is not None:
            self._file = pa.OSFile(str(path))
            source = self._file.get_stream(segment.start, segment.stop - segment.start)  # native, no GIL
            # pyarrow keeps ~32 blocks in flight per reader: n readers share one reader's budget.
            read = pacsv.ReadOptions(block_size=segment.block_bytes)
            if segment.start > 0:  # no header in this window
                read = pacsv.ReadOptions(block_size=segment.block_bytes, column_names=names)
        try:
            self.reader: pacsv.CSVStreamingReader | None = pacsv.open_csv(
                source, read_options=read, parse_options=_PARSE, convert_options=convert
            )
        except pa.ArrowInvalid as exc:
            self.reader = None
            self.close()
            if "Empty CSV file" not in str(exc):
                raise

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.reader is None:
            return
        while True:
            try:
                yield self.reader.read_next_batch()
            except StopIteration:
                return

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self._file is not None:
            self._file.close()


def _first_bad_row(values: pa.Array) -> int | None:
    """Index of the first value that does not convert to float64 (binary search on casts), or None."""

    def converts(array: pa.Array) -> bool:
        try:
            pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if converts(values):
        return None
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if converts(values.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    return lo


def _locate_bad_csv_value(path: Path, names: list[str], column: str, start: int) -> int | None:
    """Second pass after a conversion error (error path only): first row from `start` whose `column` is no number."""
    convert = pacsv.ConvertOptions(
        include_columns=[column], column_types={column: pa.string()}, strings_can_be_null=True
    )
    try:
        stream = _CsvStream(path, convert, start)
    except pa.ArrowInvalid:
        return None
    row = start
    try:
        for batch in stream:
            bad = _first_bad_row(batch.column(0))
            if bad is not None:
                return row + bad
            row += batch.num_rows
    except pa.ArrowInvalid:
        return None
    finally:
        stream.close()
    return None


def _not_a_number(path: Path, column: str, row: int | None, detail: str = "") -> ScoringInputError:
    where = f" at row {row}" if row is not None else ""
    return ScoringInputError(
        f"input file {path}: column {column!r} has a non-numeric value{where}{detail}; the model needs numbers",
        column=column,
        row=row,
    )


def _missing_value(path: Path, column: str, row: int) -> ScoringInputError:
    return ScoringInputError(
        f"input file {path}: column {column!r} has a missing value (empty, NA or NaN) at row {row}; "
        "the model needs a number in every row",
        column=column,
        row=row,
    )


def _check_nulls(batch: pa.RecordBatch, columns: Sequence[str], first_row: int, path: Path) -> None:
    for j, name in enumerate(columns):
        array = batch.column(j)
        if array.null_count:
            row = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
            raise _missing_value(path, name, first_row + row)


def _csv_batches(
    path: Path, columns: list[str], start: int, stop: int | None, segment: CsvSegment | None
) -> Iterator[pa.RecordBatch]:
    names = csv_header(path)
    check_columns(names, columns, path)
    return _csv_batches_after_check(path, names, columns, start, stop, segment)


def _csv_error(exc: pa.ArrowInvalid, path: Path, names: list[str], row: int) -> ScoringInputError:
    """A pyarrow conversion error as a `ScoringInputError` naming the column and, found by a second pass, the row.

    pyarrow converts whole blocks (~2,600 rows of 20 floats), so a bad value just past the end of a
    row range also stops that range: the file is bad either way, and the error says where.
    """
    match = _CSV_COLUMN_ERROR.search(str(exc))
    if not match or int(match.group(1)) >= len(names):
        return ScoringInputError(f"input file {path} is not a valid CSV: {exc}")
    column = names[int(match.group(1))]
    bad_row = _locate_bad_csv_value(path, names, column, row)
    value = re.search(r"invalid value (.*)$", str(exc))
    return _not_a_number(path, column, bad_row, f" ({value.group(1)})" if value else "")


def _csv_batches_after_check(
    path: Path, names: list[str], columns: list[str], start: int, stop: int | None, segment: CsvSegment | None
) -> Iterator[pa.RecordBatch]:
    convert = pacsv.ConvertOptions(column_types={c: pa.float64() for c in columns}, include_columns=columns)
    row = start if segment is None else segment.first_row
    try:
        stream = _CsvStream(path, convert, start, segment, names)  # converts the first block already
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, path, names, row) from None
    try:
        iterator = iter(stream)
        while stop is None or row < stop:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _csv_error(exc, path, names, row) from None
            if stop is not None and row + batch.num_rows > stop:
                batch = batch.slice(0, stop - row)
            _check_nulls(batch, columns, row, path)
            yield batch
            row += batch.num_rows
    finally:
        stream.close()
    if segment is not None and segment.rows is not None and row - segment.first_row != segment.rows:
        got = row - segment.first_row
        raise SegmentMismatch(f"segment from row {segment.first_row} held {got} rows, not {segment.rows}")


def _float_columns(batch: pa.RecordBatch, columns: Sequence[str], first_row: int, path: Path) -> pa.RecordBatch:
    """Cast a Parquet batch's feature columns to float64 (ints, bools, decimals, numeric strings)."""
    arrays = []
    for j, name in enumerate(columns):
        array = batch.column(j)
        if not pa.types.is_float64(array.type):
            try:
                array = pc.cast(array, pa.float64(), safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad = _first_bad_row(array)
                raise _not_a_number(path, name, None if bad is None else first_row + bad) from None
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _parquet_batches(path: Path, columns: list[str], start: int, stop: int | None) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path, pre_buffer=False)
    schema = parquet.schema_arrow
    check_columns(schema.names, columns, path)
    for name in columns:
        kind = schema.field(name).type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        if not (numeric or pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ScoringInputError(
                f"input file {path}: column {name!r} holds {kind} values; the model needs numbers", column=name
            )
    return _parquet_batches_after_check(parquet, path, columns, start, stop)


def _parquet_batches_after_check(
    parquet: pq.ParquetFile, path: Path, columns: list[str], start: int, stop: int | None
) -> Iterator[pa.RecordBatch]:
    metadata = parquet.metadata
    end = metadata.num_rows if stop is None else min(stop, metadata.num_rows)
    groups, first = [], None
    offset = 0
    for index in range(metadata.num_row_groups):
        size = metadata.row_group(index).num_rows
        if offset + size > start and offset < end:
            groups.append(index)
            first = offset if first is None else first
        offset += size
    if not groups or start >= end:
        return
    row = first
    batches = parquet.iter_batches(batch_size=65_536, row_groups=groups, columns=columns, use_threads=True)
    for batch in batches:
        lo, hi = max(start - row, 0), min(end - row, batch.num_rows)
        if hi > lo:
            part = batch.slice(lo, hi - lo) if (lo, hi) != (0, batch.num_rows) else batch
            part = _float_columns(part, columns, row + lo, path)
            _check_nulls(part, columns, row + lo, path)
            yield part
        row += batch.num_rows
        if row >= end:
            return


def open_features(
    path: Path, columns: Sequence[str], *, start: int = 0, stop: int | None = None, segment: CsvSegment | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of rows [start, stop) (or of one CSV `segment`) holding exactly `columns` as float64.

    The header/schema is checked now (missing column → `ScoringInputError` before anything is read);
    values are checked as they stream: a non-numeric or missing value raises `ScoringInputError`
    naming the column and the row.
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid row range [{start}, {stop})")
    columns = list(columns)
    if file_format(path) == "csv":
        return _csv_batches(path, columns, start, stop, segment)
    if segment is not None:
        raise ValueError("segments are for CSV files")
    return _parquet_batches(path, columns, start, stop)


def _matrix(batches: list[pa.RecordBatch], columns: Sequence[str], first_row: int, path: Path) -> np.ndarray:
    """One C-ordered float64 matrix from record batches, checked finite."""
    rows = sum(b.num_rows for b in batches)
    matrix = np.empty((rows, len(columns)), dtype=np.float64)
    offset = 0
    for batch in batches:
        size = batch.num_rows
        for j in range(len(columns)):
            matrix[offset : offset + size, j] = batch.column(j).to_numpy(zero_copy_only=False)
        offset += size
    if not np.isfinite(matrix).all():
        bad_row, bad_col = (int(v) for v in np.argwhere(~np.isfinite(matrix))[0])
        raise ScoringInputError(
            f"input file {path}: column {columns[bad_col]!r} has a non-finite value "
            f"({matrix[bad_row, bad_col]}) at row {first_row + bad_row}; the model needs finite numbers",
            column=columns[bad_col],
            row=first_row + bad_row,
        )
    return matrix


def matrices(
    batches: Iterator[pa.RecordBatch], columns: Sequence[str], batch_rows: int, *, first_row: int, path: Path
) -> Iterator[tuple[int, np.ndarray]]:
    """Regroup small record batches into (first row index, matrix of `batch_rows` rows); the last may be short."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    pending: list[pa.RecordBatch] = []
    held = 0
    row = first_row
    for batch in batches:
        while batch.num_rows:
            take = min(batch_rows - held, batch.num_rows)
            pending.append(batch.slice(0, take) if take < batch.num_rows else batch)
            held += take
            batch = batch.slice(take)
            if held == batch_rows:
                yield row, _matrix(pending, columns, row, path)
                row += held
                pending, held = [], 0
    if held:
        yield row, _matrix(pending, columns, row, path)
