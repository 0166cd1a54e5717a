"""Why pyarrow refused a CSV: the first bad line, field or value, named by row and column.

Only called on the failure path, so a good file never pays for it. It streams the file line by line
(bounded memory: no line longer than pyarrow's block is held), in the order a person would fix
things: line length, encoding, row shape, then cell values.

Whatever this diagnosis itself cannot parse (a field past the csv module's limit, a stray quote that
swallows the rest of the file, bytes no codec reads) is still bad data: it returns a `BadDataError`,
never raises something else, so a bad file fails at once instead of being retried. Raw content is
quoted only from a file whose header looks like a CSV, and then cut short (`errors.shown`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from retrain.data.csvfile import NULL_TOKENS, PARSE, SUSPECT_DELIMITERS, UTF8_FIX, CsvHeader, field_size_limit
from retrain.data.errors import BadDataError, shown

_ARROW_COLUMN = re.compile(r"In CSV column #(\d+): .*invalid value '(.*)'", re.DOTALL)


def diagnose(
    path: Path,
    header: CsvHeader,
    types: dict[str, pa.DataType],
    exc: Exception,
    *,
    values: bool = True,
    quote: bool | None = None,
) -> BadDataError:
    """The first thing in `path` that pyarrow could not read (`exc`), as a `BadDataError` naming where.

    With `values=False` only the line-by-line pass runs (the streaming scorer finds bad values itself,
    block by block, without loading the file). `quote`: may names and values of this file appear in
    the message (default: when its header looks like a CSV header, `CsvHeader.plausible`); callers
    pass True once the header holds the columns they expected.
    """
    path = Path(path)
    quote = header.plausible if quote is None else quote
    try:
        found = _first_bad_line(path, header, quote)
        if found is None and values:
            found = _first_bad_value(path, header, types, exc, quote)
    except BadDataError as error:
        return error
    except Exception as problem:  # noqa: BLE001 - whatever the diagnosis cannot parse is still bad data
        found = BadDataError.at(
            path,
            f"the file cannot be read as CSV, and its diagnosis stopped on {type(problem).__name__}",
            fix="check the file is the UTF-8, comma-separated CSV that was expected",
        )
    if found is None:
        found = BadDataError.at(
            path,
            "pyarrow could not read the file, and no line, field or value could be singled out",
            fix="check the file against the expected CSV layout (UTF-8, comma-separated, one header line)",
        )
    return found


def _lines(path: Path, limit: int) -> Iterator[tuple[int, bytes]]:
    """(0-based line number, bytes with their newline) of `path`; a line longer than `limit` is refused."""
    with open(path, "rb") as handle:
        pending = b""
        number = 0
        while True:
            chunk = handle.read(limit)
            data = pending + chunk
            start = 0
            while (end := data.find(b"\n", start)) >= 0:
                yield number, data[start : end + 1]
                number += 1
                start = end + 1
            pending = data[start:]
            if len(pending) > limit:
                raise BadDataError.at(
                    path,
                    f"a line longer than {limit >> 10} KiB (a field far too long for a number, "
                    "a binary file, or a file without line breaks)",
                    fix="land a CSV whose lines hold one row each",
                    row=number - 1 if number > 0 else None,
                )
            if not chunk:
                if pending:
                    yield number, pending
                return


def _decoded(path: Path, header: CsvHeader, quote: bool) -> Iterator[str]:
    """The lines of `path` as text; the first undecodable byte is refused with its row and column."""
    for number, raw in _lines(path, header.block_bytes):
        try:
            yield raw.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as error:
            field = raw.count(b",", 0, error.start)
            names = header.names
            column = names[field] if number > 0 and field < len(names) and quote else None
            raise BadDataError.at(
                path,
                f"bytes that are not valid UTF-8 (byte {error.start} of the line; Latin-1 or UTF-16 text?)",
                fix=UTF8_FIX,
                column=column,
                row=number - 1 if number > 0 else None,
            ) from None


def _first_bad_line(path: Path, header: CsvHeader, quote: bool) -> BadDataError | None:
    """The first line whose bytes or number of fields do not match the header, if any."""
    width = len(header.names)
    rows = csv.reader(_decoded(path, header, quote))
    index = -1
    # A field may be as long as a line (pyarrow's limit); the csv module's default (128 KiB) is lower,
    # and this limit also stops an unclosed quote from swallowing the rest of the file into memory.
    try:
        with field_size_limit(header.block_bytes):
            next(rows, None)
            for index, fields in enumerate(rows):
                if fields and len(fields) != width:
                    return _ragged(path, fields, width, index)
    except csv.Error:
        return BadDataError.at(
            path,
            f"a value the CSV parser cannot read (an unclosed quote, or a field longer than "
            f"{header.block_bytes >> 10} KiB)",
            fix="close every quote, and keep values short (numbers)",
            row=index + 1,
        )
    return None


def _ragged(path: Path, fields: list[str], width: int, index: int) -> BadDataError:
    suspects = [label for d, label in SUSPECT_DELIMITERS.items() if len(fields) == 1 and d in fields[0]]
    if suspects:
        problem = f"1 field where the header has {width}, and it contains {suspects[0]}"
        fix = "write every line with ',' as the delimiter"
    elif len(fields) < width:
        problem = f"{len(fields)} field(s) where the header has {width}: the line is truncated or values are missing"
        fix = "complete the line (a file cut off while being written looks like this) or remove it"
    else:
        problem = f"{len(fields)} field(s) where the header has {width}"
        fix = "remove the extra values, or quote values that contain commas"
    return BadDataError.at(path, problem, fix=fix, row=index)


def _first_bad_value(
    path: Path, header: CsvHeader, types: dict[str, pa.DataType], exc: Exception, quote: bool
) -> BadDataError | None:
    """The first cell, column by column in `types` order, that does not parse as its declared type."""
    strings = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=header.names, skip_rows=1, block_size=header.block_bytes),
        parse_options=PARSE,
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(types, pa.string()), include_columns=list(types), strings_can_be_null=False
        ),
    )
    match = _ARROW_COLUMN.search(str(exc))
    reported = (header.names[int(match.group(1))], match.group(2)) if match else (None, None)
    for name, kind in types.items():
        values = strings.column(name).to_pandas()
        bad = ~values.isin(NULL_TOKENS) & ~_parses(values, kind)
        if name == reported[0]:
            bad |= values == reported[1]
        hits = bad.to_numpy().nonzero()[0]
        if len(hits):
            row = int(hits[0])
            integer = pa.types.is_integer(kind)
            expected = "an integer such as 0 or 1" if integer else "a number"
            value = f"value {shown(values.iloc[row])}" if quote else "a value"
            return BadDataError.at(
                path,
                f"{value} is not {expected}",
                fix=f"write only {'integers' if integer else 'numbers'} in this column "
                "(encode categories as numbers before landing the data)",
                column=name if quote else None,
                row=row,
            )
    return None


def _parses(values: pd.Series, kind: pa.DataType) -> pd.Series:
    """Which strings pyarrow would accept as `kind`; approximated per element, used only on the slow path."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pd.Series(True, index=values.index)  # any text is a string
    stripped = values.astype(str)
    if pa.types.is_integer(kind):
        return stripped.str.fullmatch(r"[+-]?\d+")
    numeric = pd.to_numeric(stripped, errors="coerce")
    special = stripped.str.lower().str.lstrip("+-").isin({"inf", "infinity", "nan"})
    return numeric.notna() | special
