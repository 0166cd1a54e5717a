"""Stream a model's feature columns out of a CSV or Parquet file, in bounded memory.

The measured recipe (DESIGN.md, "Performance facts"): CSV through `pyarrow.csv.open_csv` with ~1 MiB
blocks and the feature columns declared float64 (other columns are never parsed); Parquet through
`ParquetFile.iter_batches` with `pre_buffer=False`. The small blocks are regrouped into matrices of
`batch_rows` rows (≈100k) for `predict_proba`, so memory depends on the batch size, not the file size.

Row ranges (one mapped task scores rows [start, stop) of the same file) never parse the rows before
`start`: in Parquet the row groups before it are skipped from the footer; in a CSV the byte offset of
row `start` is found by counting newlines (memchr speed, ~2 GB/s from the page cache). That shortcut
is only taken when it is exact: no quote, lone carriage return or blank line before that row (numeric
files written by pyarrow, pandas or numpy). Otherwise pyarrow skips the rows itself
(`skip_rows_after_names`, with `newlines_in_values` so quoted newlines are honoured), which tokenizes
every skipped row (~3 M rows/s here, vs ~2 GB/s for the newline count).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
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
CSV_BLOCK_BYTES = 1 << 20
# Newline scan chunk for the CSV row-offset shortcut.
_SCAN_BYTES = 8 << 20
_CSV_COLUMN_ERROR = re.compile(r"In CSV column #(\d+)")
# Quoted values may hold newlines: without this pyarrow may cut a block (or skip rows) inside one.
# Measured: no slower on plain numeric files.
_PARSE = pacsv.ParseOptions(newlines_in_values=True)


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


def input_columns(path: Path) -> list[str]:
    """The column names of a CSV or Parquet input file, without reading its rows."""
    if file_format(path) == "csv":
        return csv_header(path)
    return list(pq.ParquetFile(path).schema_arrow.names)


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


def _header_end(handle: io.BufferedReader) -> int | None:
    """Byte offset just after the header line (quote-aware), or None if it is not a plain LF/CRLF line."""
    handle.seek(0)
    head = handle.read(1 << 20)
    quotes = 0
    pos = 0
    while True:
        newline = head.find(b"\n", pos)
        if newline < 0:
            return len(head) if len(head) < (1 << 20) and quotes % 2 == 0 else None
        quotes += head.count(b'"', pos, newline)
        if quotes % 2 == 0:
            return newline + 1
        pos = newline + 1


def _ambiguous(chunk: bytes, previous: bytes) -> bool:
    """True if some newline in `chunk` may not end a row: quotes, lone CRs or blank lines (pyarrow skips those)."""
    if b'"' in chunk or b"\n\n" in chunk or b"\n\r\n" in chunk:
        return True
    if previous == b"\n" and chunk.startswith((b"\n", b"\r\n")):
        return True
    return b"\r" in chunk and (chunk.endswith(b"\r") or chunk.count(b"\r") != chunk.count(b"\r\n"))


def csv_row_offset(path: Path, row: int) -> int | None:
    """Byte offset where data row `row` (0-based) starts, by counting newlines; None when unsafe.

    Unsafe means a quote, a lone carriage return or a blank line between the header and that row:
    there a newline is not always a row boundary, and only a CSV parser can tell. Past the end of the
    file, the offset of the end is returned (so the range reads as empty).
    """
    with open(path, "rb") as handle:
        pos = _header_end(handle)
        if pos is None:
            return None
        handle.seek(pos)
        counted = 0
        previous = b"\n"
        while counted < row:
            chunk = handle.read(_SCAN_BYTES)
            if not chunk:
                return pos
            if _ambiguous(chunk, previous):
                return None
            lines = chunk.count(b"\n")
            if counted + lines >= row:
                newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A)
                return pos + int(newlines[row - counted - 1]) + 1
            counted += lines
            pos += len(chunk)
            previous = chunk[-1:]
        return pos


class _CsvStream:
    """pyarrow's streaming CSV reader positioned at data row `start` of `path`."""

    def __init__(self, path: Path, names: list[str], convert: pacsv.ConvertOptions, start: int) -> None:
        self._handle = None
        offset = csv_row_offset(path, start) if start > 0 else None
        if offset is not None:
            self._handle = open(path, "rb")  # noqa: SIM115 - closed in close()
            self._handle.seek(offset)
            read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=names)
            source: object = self._handle
        else:
            read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, skip_rows_after_names=start)
            source = str(path)
        try:
            self.reader = pacsv.open_csv(source, read_options=read, parse_options=_PARSE, convert_options=convert)
        except pa.ArrowInvalid as exc:
            self.close()
            if "Empty CSV file" in str(exc):  # row range at the very end of the file
                self.reader = None
                return
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
        if self._handle is not None:
            self._handle.close()
            self._handle = None


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
        stream = _CsvStream(path, names, convert, start)
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


def _csv_batches(path: Path, columns: list[str], start: int, stop: int | None) -> Iterator[pa.RecordBatch]:
    names = csv_header(path)
    check_columns(names, columns, path)
    return _csv_batches_after_check(path, names, columns, start, stop)


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
    path: Path, names: list[str], columns: list[str], start: int, stop: int | None
) -> Iterator[pa.RecordBatch]:
    convert = pacsv.ConvertOptions(column_types={c: pa.float64() for c in columns}, include_columns=columns)
    row = start
    try:
        stream = _CsvStream(path, names, convert, start)  # converts the first block already
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, path, names, row) from None
    try:
        iterator = iter(stream)
        while stop is None or row < stop:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise _csv_error(exc, path, names, row) from None
            if stop is not None and row + batch.num_rows > stop:
                batch = batch.slice(0, stop - row)
            _check_nulls(batch, columns, row, path)
            yield batch
            row += batch.num_rows
    finally:
        stream.close()


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
    path: Path, columns: Sequence[str], *, start: int = 0, stop: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of rows [start, stop) holding exactly `columns` as float64, in that order.

    The header/schema is checked now (missing column → `ScoringInputError` before anything is read);
    values are checked as they stream: a non-numeric or missing value raises `ScoringInputError`
    naming the column and the row.
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid row range [{start}, {stop})")
    columns = list(columns)
    if file_format(path) == "csv":
        return _csv_batches(path, columns, start, stop)
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
