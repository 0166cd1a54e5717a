"""Stream a model's feature columns out of a CSV or Parquet file, in bounded memory.

The measured recipe (`docs/DESIGN.md`, "Performance facts"): CSV through `pyarrow.csv.open_csv` with ~1 MiB
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

The file checks are landing's (`retrain.data.csvfile`): the same header rules (any length, UTF-8,
unique names), the same parse options (an empty line inside the file is a row of missing values,
empty lines at its end are nothing), the same block sizing, and the same diagnosis of a file pyarrow
refuses (`retrain.data.diagnose`): landing and scoring accept and refuse the same files (a header
with no rows aside: the scorer's contract is that an empty input scores to an empty output, landing
refuses an empty day). Every error is a `BadDataError` (`ScoringInputError` is its scoring name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retrain.data.csvfile import (
    BLOCK_BYTES,
    PARSE,
    CsvHeader,
    block_bytes_for,
    inspect_header,
    trailing_blank_lines,
)
from retrain.data.diagnose import diagnose
from retrain.data.errors import shown
from retrain.data.kinds import NUMERIC_KINDS, as_read_type, read_type, readable_type
from retrain.scoring import ScoringInputError
from retrain.scoring.checks import check_columns, check_nulls, first_bad_row, matrices, not_a_number

__all__ = ["CsvSegment", "check_columns", "count_rows", "csv_header", "csv_segments", "file_format", "matrices"]

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

# pyarrow CSV block: ~1 MiB parses at ~1.2 M rows/s of 20 floats in ~170 MiB; 37 MiB blocks are 3.4x slower.
# The streaming reader keeps ~32 blocks in flight (~36 MB at 1 MiB, ~18 MB at 512 KiB; measured).
CSV_BLOCK_BYTES = BLOCK_BYTES
_CSV_COLUMN_ERROR = re.compile(r"In CSV column #(\d+)")
_PARSE = PARSE
# A CSV is cut into segments parsed in parallel only from this size on.
MIN_SEGMENT_BYTES = 32 << 20
_WHOLE_GROUP_BYTES = 32 << 20  # decoded feature columns of one Parquet row group read at once (`_row_groups`)
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
    raise ScoringInputError.at(
        path,
        f"the {role} file has extension {suffix or '(none)'!r}; expected one of {accepted}",
        fix=f"name the file with one of {accepted}",
    )


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file, checked like landing checks them (`csvfile.inspect_header`)."""
    return inspect_header(Path(path), what="input file").names


def count_rows(path: Path) -> int:
    """Data rows of a CSV (streamed by pyarrow, one column as text) or a Parquet file (its footer)."""
    path = Path(path)
    if file_format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    header = inspect_header(path, what="input file")
    first = header.names[:1]
    convert = pacsv.ConvertOptions(include_columns=first, column_types={first[0]: pa.string()})
    read = pacsv.ReadOptions(block_size=header.block_bytes)
    reader = pacsv.open_csv(path, read_options=read, parse_options=_PARSE, convert_options=convert)
    return max(0, sum(batch.num_rows for batch in reader) - trailing_blank_lines(path))


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
    if parts < 2 or size < MIN_SEGMENT_BYTES or trailing_blank_lines(path):
        return None
    data_start = inspect_header(path, what="input file").size  # the header line, whatever its length
    if data_start >= size:
        return None
    with open(path, "rb") as handle:
        if handle.read(data_start).count(b'"') % 2:
            return None
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
    block = max(block_bytes_for(data_start) // parts, 256 << 10, 4 * data_start)
    return [
        CsvSegment(
            0 if k == 0 else bounds[k],
            bounds[k + 1],
            firsts[k],
            firsts[k + 1] - firsts[k] if k + 1 < parts else None,
            block,
        )
        for k in range(parts)
    ]


class _CsvStream:
    """pyarrow's streaming CSV reader from data row `start` of `path`, or over one segment of it.

    Rows before `start` are skipped by pyarrow (tokenized, not converted).
    """

    def __init__(
        self,
        path: Path,
        convert: pacsv.ConvertOptions,
        start: int,
        segment: CsvSegment | None = None,
        names: list[str] | None = None,
        block_bytes: int = CSV_BLOCK_BYTES,
    ) -> None:
        self._file: pa.NativeFile | None = None
        source: object = path
        read = pacsv.ReadOptions(block_size=block_bytes, skip_rows_after_names=start)
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


def _locate_bad_csv_value(path: Path, header: CsvHeader, column: str, start: int) -> int | None:
    """Second pass after a conversion error (error path only): first row from `start` whose `column` is no number."""
    convert = pacsv.ConvertOptions(
        include_columns=[column], column_types={column: pa.string()}, strings_can_be_null=True
    )
    try:
        stream = _CsvStream(path, convert, start, block_bytes=header.block_bytes)
    except pa.ArrowInvalid:
        return None
    row = start
    try:
        for batch in stream:
            bad = first_bad_row(batch.column(0))
            if bad is not None:
                return row + bad
            row += batch.num_rows
    except pa.ArrowInvalid:
        return None
    finally:
        stream.close()
    return None


def _csv_batches(
    path: Path,
    columns: list[str],
    start: int,
    stop: int | None,
    segment: CsvSegment | None,
    kinds: dict[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    header = inspect_header(path, what="input file")
    check_columns(header.names, columns, path)
    if segment is None and trailing_blank_lines(path):  # rare: pay one counting pass to stop before them
        total = count_rows(path)
        stop = total if stop is None else min(stop, total)
        start = min(start, stop)
    return _csv_batches_after_check(path, header, columns, start, stop, segment, kinds)


def _csv_error(exc: pa.ArrowInvalid, path: Path, header: CsvHeader, columns: list[str], row: int) -> ScoringInputError:
    """A pyarrow error as a `ScoringInputError` naming the column and the row, found by a second pass.

    A conversion error names its column: the row comes from a streaming pass over that column.
    Anything else (a ragged row, bad bytes, a line too long) gets landing's line-by-line diagnosis.
    pyarrow converts whole blocks (~2,600 rows of 20 floats), so a bad value just past the end of a
    row range also stops that range: the file is bad either way, and the error says where.
    """
    names = header.names
    match = _CSV_COLUMN_ERROR.search(str(exc))
    if not match or int(match.group(1)) >= len(names):
        types = dict.fromkeys(columns, pa.float64())
        return diagnose(path, header, types, exc, values=False, quote=True)
    column = names[int(match.group(1))]
    bad_row = _locate_bad_csv_value(path, header, column, row)
    if bad_row is None:  # e.g. bytes that are not UTF-8: not even a string, so the line-by-line pass finds them
        found = diagnose(path, header, dict.fromkeys(columns, pa.float64()), exc, values=False, quote=True)
        if found.row is not None:
            return found
    value = re.search(r"invalid value '(.*)'$", str(exc), re.DOTALL)
    return not_a_number(path, column, bad_row, f" ({shown(value.group(1))})" if value else "")


def _read_types(columns: list[str], kinds: dict[str, str] | None) -> dict[str, pa.DataType]:
    """float64 for every column (a model of numbers only), else per kind: numbers float64, the rest text."""
    if kinds is None:
        return dict.fromkeys(columns, pa.float64())
    return {c: read_type(kinds[c]) for c in columns}


def _csv_batches_after_check(
    path: Path,
    header: CsvHeader,
    columns: list[str],
    start: int,
    stop: int | None,
    segment: CsvSegment | None,
    kinds: dict[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    convert = pacsv.ConvertOptions(column_types=_read_types(columns, kinds), include_columns=columns)
    row = start if segment is None else segment.first_row
    try:  # converts the first block already
        stream = _CsvStream(path, convert, start, segment, header.names, block_bytes=header.block_bytes)
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, path, header, columns, row) from None
    try:
        iterator = iter(stream)
        while stop is None or row < stop:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _csv_error(exc, path, header, columns, row) from None
            if stop is not None and row + batch.num_rows > stop:
                batch = batch.slice(0, stop - row)
            if kinds is None:  # a model that takes missing values gets them (NaN)
                check_nulls(batch, columns, row, path)
            yield batch
            row += batch.num_rows
    finally:
        stream.close()
    if segment is not None and segment.rows is not None and row - segment.first_row != segment.rows:
        got = row - segment.first_row
        raise SegmentMismatch(f"segment from row {segment.first_row} held {got} rows, not {segment.rows}")


def _float_columns(
    batch: pa.RecordBatch, columns: Sequence[str], first_row: int, path: Path, kinds: dict[str, str] | None = None
) -> pa.RecordBatch:
    """Cast a Parquet batch's feature columns to float64 (ints, bools, decimals, numeric strings).

    With `kinds`, the `string`/`bool` columns are cast to text instead (booleans as `true`/`false`);
    the casts are the data stage's (`retrain.data.kinds.as_read_type`), whatever dtypes pandas wrote.
    """
    arrays = []
    for j, name in enumerate(columns):
        array = batch.column(j)
        try:
            array = as_read_type(array, None if kinds is None else kinds[name])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = first_bad_row(array)
            raise not_a_number(path, name, None if bad is None else first_row + bad) from None
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _parquet_batches(
    path: Path, columns: list[str], start: int, stop: int | None, kinds: dict[str, str] | None = None
) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path, pre_buffer=False)
    schema = parquet.schema_arrow
    check_columns(schema.names, columns, path)
    for name in columns:
        kind = schema.field(name).type
        if not readable_type(kind):
            takes = "numbers" if kinds is None or kinds[name] in NUMERIC_KINDS else "text or true/false values"
            raise ScoringInputError.at(
                path,
                f"column {name!r} holds {kind} values; the model needs {takes}",
                fix=f"store the model's columns as {takes}",
                column=name,
            )
    return _parquet_batches_after_check(parquet, path, columns, start, stop, kinds)


def _parquet_batches_after_check(
    parquet: pq.ParquetFile,
    path: Path,
    columns: list[str],
    start: int,
    stop: int | None,
    kinds: dict[str, str] | None = None,
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
    for batch in _row_groups(parquet, groups, columns):
        lo, hi = max(start - row, 0), min(end - row, batch.num_rows)
        if hi > lo:
            part = batch.slice(lo, hi - lo) if (lo, hi) != (0, batch.num_rows) else batch
            part = _float_columns(part, columns, row + lo, path, kinds)
            if kinds is None:
                check_nulls(part, columns, row + lo, path)
            yield part
        row += batch.num_rows
        if row >= end:
            return


def _row_groups(parquet: pq.ParquetFile, groups: list[int], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The record batches of `groups`, one row group decoded at a time (a large one streamed in slices).

    Not one `iter_batches` over all the groups: it decodes ahead across row groups. Measured with
    100k-row groups of 20 float64 columns: Arrow's peak allocation 87 MB that way, 38 MB one group at
    a time. A group whose decoded columns would exceed `_WHOLE_GROUP_BYTES` is streamed in 64k-row
    slices instead, so a file written as one huge row group still streams in bounded memory.
    """
    metadata = parquet.metadata
    for group in groups:
        if metadata.row_group(group).num_rows * len(columns) * 8 <= _WHOLE_GROUP_BYTES:
            yield from parquet.read_row_group(group, columns=columns, use_threads=True).to_batches()
        else:
            yield from parquet.iter_batches(batch_size=65_536, row_groups=[group], columns=columns, use_threads=True)


def open_features(
    path: Path,
    columns: Sequence[str],
    *,
    start: int = 0,
    stop: int | None = None,
    segment: CsvSegment | None = None,
    kinds: dict[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of rows [start, stop) (or of one CSV `segment`) holding exactly `columns` as float64.

    The header/schema is checked now (missing column → `ScoringInputError` before anything is read);
    values are checked as they stream: a non-numeric or missing value raises `ScoringInputError`
    naming the column and the row. With `kinds` (`retrain.scoring.engine.feature_kinds`: a model that
    takes text, booleans or missing values) numeric columns are float64 with nulls allowed and the
    `string`/`bool` columns are text.
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid row range [{start}, {stop})")
    columns = list(columns)
    if file_format(path) == "csv":
        return _csv_batches(path, columns, start, stop, segment, kinds)
    if segment is not None:
        raise ValueError("segments are for CSV files")
    return _parquet_batches(path, columns, start, stop, kinds)
