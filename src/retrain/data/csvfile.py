"""The one CSV stack: header checks, parse options and block sizes shared by landing and scoring.

Landing (`read_table`, whole file) and the streaming scorer (`retrain.scoring.readers`, ~1 MiB
blocks) accept and refuse the same files because they share everything here:

- the header: read whole whatever its length (up to `MAX_HEADER_BYTES`), UTF-8 with an optional BOM,
  comma-separated, every name present and unique (a duplicated name makes "the column `x`"
  ambiguous, even when the model does not use it);
- the parse options: quoted values may hold newlines; an empty line is a row of missing values, not
  nothing (skipping it would pair every later row of data.csv with the wrong label in target.csv),
  except empty lines at the very end of the file, which editors add and which hold no row;
- the block size: at least 1 MiB (the measured sweet spot), larger only for very wide headers, so a
  header line of any length fits in pyarrow's first block.

Reading is fast when the file is good: pyarrow with declared column types. Only when pyarrow refuses
the file does `retrain.data.diagnose` pay for a slow pass that names the row and the column.

Writing is deterministic: the header is written by hand (pyarrow would quote it) and the body by
pyarrow, which prints each float64 as the shortest text that reads back to the same number.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from retrain.data.errors import BadDataError, DataValidationError
from retrain.io import atomic_path

__all__ = ["DataValidationError", "CsvHeader", "inspect_header", "read_header", "read_table", "write_csv"]

BLOCK_BYTES = 1 << 20
"""pyarrow CSV block: ~1 MiB parses ~1.2 M rows/s of 20 floats in ~170 MiB; 37 MiB blocks are 3.4x slower."""
MAX_HEADER_BYTES = 64 << 20
"""A first line longer than this is not a header (a binary file, or a file with no newline at all)."""
PARSE = pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False)
"""Quoted values may hold newlines (without this pyarrow may cut a block inside one; measured no slower
on plain numeric files). Empty lines are rows of missing values: see the module docstring."""
NULL_TOKENS = sorted(pacsv.ConvertOptions().null_values)
SUSPECT_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
UTF8_FIX = "save the file as UTF-8 (e.g. pandas to_csv(..., encoding='utf-8'))"
_TAIL_PROBE = 1 << 16
_NAME = re.compile(r"[^\W\d][\w .()%/-]{0,99}")


@dataclass(frozen=True)
class CsvHeader:
    """The first line of a CSV: its column names and its size in bytes (BOM and newline included).

    `plausible` says whether the names look like column names at all (short, starting with a letter or
    `_`, made of letters, digits, spaces and `._-()%/`; a lone name without spaces): messages quote
    names and values only from a file that looks like a CSV, never the first line of a file that is
    something else (`/etc/passwd`, a key, a `.env` file behind a wrong path).
    """

    names: list[str]
    size: int

    @property
    def plausible(self) -> bool:
        if len(self.names) == 1 and " " in self.names[0]:
            return False
        return all(_NAME.fullmatch(name) for name in self.names)

    @property
    def block_bytes(self) -> int:
        return block_bytes_for(self.size)


def block_bytes_for(header_bytes: int, base: int = BLOCK_BYTES) -> int:
    """pyarrow's block size for a file whose header line is `header_bytes` long.

    The header (and every row) must fit in one block; rows are about as wide as the header, so the
    block is `base` unless four header lines do not fit, then the next power of two that holds them.
    """
    block = base
    while block < 4 * header_bytes:
        block *= 2
    return block


def write_csv(dest: Path, frame: pd.DataFrame) -> Path:
    """Write `frame` (no index) to `dest` atomically, with an unquoted header and deterministic bytes."""
    names = [str(c) for c in frame.columns]
    bad = [n for n in names if any(ch in n for ch in ',"\n\r')]
    if bad:
        raise ValueError(f"column names must not contain commas, quotes or newlines: {bad}")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(Path(dest)) as tmp, open(tmp, "wb") as handle:
        handle.write((",".join(names) + "\n").encode("utf-8"))
        if table.num_rows:
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return Path(dest)


def _first_line(path: Path) -> bytes:
    """The bytes of the first line (without its newline), read in 1 MiB steps whatever its length."""
    chunks: list[bytes] = []
    size = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(BLOCK_BYTES)
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if not chunk:
                return b"".join(chunks)
            if size > MAX_HEADER_BYTES:
                raise BadDataError.at(
                    path,
                    f"the first line is longer than {MAX_HEADER_BYTES >> 20} MiB: this is not a CSV header "
                    "(a binary file, or a file without line breaks)",
                    fix="land a UTF-8 CSV file with the column names on the first line",
                )


def inspect_header(path: Path, *, what: str = "file") -> CsvHeader:
    """The header of a CSV file, after the checks that need only its first line.

    Refuses a missing or empty file, a first line that is not UTF-8 text (binary, UTF-16, Latin-1),
    a file that uses another delimiter, and empty or duplicated names, each with the fix. Nothing of a
    file that fails here is quoted in the message.

    Raises:
        BadDataError: the file is not a usable CSV header.
    """
    path = Path(path)
    if not path.is_file():
        raise BadDataError.at(path, f"the {what} does not exist", fix=f"write the {what} at this path")
    if path.stat().st_size == 0:
        raise BadDataError.at(path, "the file is empty (0 bytes)", fix="write a header line and at least one data row")
    first = _first_line(path)
    size = len(first) + 1
    first = first.rstrip(b"\r")
    utf16 = first[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in first
    if utf16:
        raise BadDataError.at(
            path,
            "the header line holds NUL bytes or a UTF-16 byte order mark: the file is binary or UTF-16, not UTF-8",
            fix=UTF8_FIX,
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadDataError.at(path, f"the header line is not valid UTF-8 (byte {exc.start})", fix=UTF8_FIX) from None
    if not text.strip():
        raise BadDataError.at(path, "the header line is empty", fix="put the column names on the first line")
    try:
        with field_size_limit(len(text) + 1):  # one name may be longer than the csv module's 128 KiB
            names = next(csv.reader([text]))
    except csv.Error:  # e.g. one name longer than the csv module's field limit (128 KiB)
        raise BadDataError.at(
            path, "the header line cannot be parsed as CSV", fix="put short column names on the first line"
        ) from None
    if len(names) == 1:
        for delimiter, label in SUSPECT_DELIMITERS.items():
            if delimiter in names[0]:
                raise BadDataError.at(
                    path,
                    f"the header is a single column that contains {label}: the file is not comma-separated",
                    fix=f"write the file with ',' as the delimiter (e.g. pandas to_csv(..., sep=',')), "
                    f"not {delimiter!r}",
                )
    header = CsvHeader(names, size)
    empty = [i for i, name in enumerate(names) if not name.strip()]
    if empty:
        raise BadDataError.at(
            path,
            f"header field(s) at position(s) {empty[:10]} (0-based) have no name",
            fix="give every column a name and remove trailing commas from the header",
        )
    check_unique(names, path, quote=header.plausible)
    return header


@contextmanager
def field_size_limit(limit: int) -> Iterator[None]:
    """The csv module's field size limit (a process-wide setting, 128 KiB by default) set to `limit` for a block."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_header(path: Path, *, what: str = "file") -> list[str]:
    """The column names of a CSV file (see `inspect_header` for what is refused)."""
    return inspect_header(path, what=what).names


def check_unique(names: Sequence[str], path: Path, *, quote: bool = True) -> None:
    """Refuse duplicated column names, used or not: "column x" must name one column of the file."""
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        shown = f" {dupes[:10]}" if quote else ""
        raise BadDataError.at(
            path,
            f"duplicated column name(s){shown} in the header ({len(dupes)} name(s) appear more than once)",
            fix="give every column a unique name",
        )


def trailing_blank_lines(path: Path) -> int:
    """How many empty lines end the file (after the last row's own newline): they hold no row.

    pyarrow reads each as a row of missing values; readers drop that many rows from the end. Only the
    last 64 KiB are looked at (more blank lines than that are refused as missing values).
    """
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - _TAIL_PROBE))
        tail = handle.read()
    tail = tail.removesuffix(b"\n").removesuffix(b"\r")
    count = 0
    while tail.endswith(b"\n") and len(tail) > 1:
        tail = tail[:-1].removesuffix(b"\r")
        count += 1
    return count


def read_table(
    path: Path, header: Sequence[str] | CsvHeader, types: dict[str, pa.DataType], *, quote: bool | None = None
) -> pa.Table:
    """Read the columns named in `types`, in that order, as those types; diagnose the file if pyarrow refuses it.

    `quote`: whether the diagnosis may quote this file's names and values (see `diagnose.diagnose`).

    Raises:
        BadDataError: naming the row and column of the first thing pyarrow could not read.
    """
    from retrain.data.diagnose import diagnose

    path = Path(path)
    if not isinstance(header, CsvHeader):
        header = CsvHeader(list(header), len(",".join(header).encode("utf-8")) + 16)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header.names, skip_rows=1, block_size=header.block_bytes),
            parse_options=PARSE,
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(types)),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise diagnose(path, header, types, exc, quote=quote) from None
    blank = trailing_blank_lines(path)
    return table.slice(0, max(0, table.num_rows - blank)) if blank else table
