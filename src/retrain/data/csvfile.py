"""CSV in and out for the data stage: fast with pyarrow, and precise when a file is bad.

Reading has two paths. The fast path hands the whole file to pyarrow with declared column types; a
good day of 100k rows costs tens of milliseconds. Only when pyarrow refuses the file do we pay for a
slow, line-by-line diagnosis, because pyarrow's own messages lack the row (and sometimes the column)
that a person needs to fix the file.

Writing is deterministic: the header is written by hand (pyarrow would quote it) and the body by
pyarrow, which prints each float64 as the shortest text that reads back to the same number. The same
frame therefore always gives the same bytes, and a reread gives the same numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from retrain.data.errors import DataValidationError
from retrain.io import atomic_path

_HEADER_PROBE = 1 << 16
_SUSPECT_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
_ARROW_COLUMN = re.compile(r"In CSV column #(\d+): .*invalid value '(.*)'", re.DOTALL)
NULL_TOKENS = sorted(pacsv.ConvertOptions().null_values)
_PARSE = pacsv.ParseOptions(ignore_empty_lines=False)
"""An empty line is a row of missing values, not nothing: skipping it would pair every later row of
data.csv with the wrong label in target.csv (and hide a missing label in a one-column file)."""


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


def read_header(path: Path, *, what: str = "file") -> list[str]:
    """The column names of a CSV file, after the checks that need only its first line.

    Refuses a missing or empty file, undecodable bytes in the header, a file that uses another
    delimiter, and empty or duplicated names, each with the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError.at(path, f"the {what} does not exist", fix=f"write the {what} at this path")
    with open(path, "rb") as handle:
        probe = handle.read(_HEADER_PROBE)
    if not probe:
        raise DataValidationError.at(
            path, "the file is empty (0 bytes)", fix="write a header line and at least one data row"
        )
    first = probe.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError.at(
            path,
            f"the header line is not valid UTF-8 (byte {exc.start})",
            fix="save the file as UTF-8 (e.g. pandas to_csv(..., encoding='utf-8'))",
        ) from None
    if not text.strip():
        raise DataValidationError.at(path, "the header line is empty", fix="put the column names on the first line")
    names = next(csv.reader([text]))
    if len(names) == 1:
        for delimiter, label in _SUSPECT_DELIMITERS.items():
            if delimiter in names[0]:
                raise DataValidationError.at(
                    path,
                    f"the header is a single column that contains {label} ({names[0][:60]!r}): "
                    "the file is not comma-separated",
                    fix=f"write the file with ',' as the delimiter (e.g. pandas to_csv(..., sep=',')), "
                    f"not {delimiter!r}",
                )
    empty = [i for i, name in enumerate(names) if not name.strip()]
    if empty:
        raise DataValidationError.at(
            path,
            f"header field(s) at position(s) {empty} (0-based) have no name",
            fix="give every column a name and remove trailing commas from the header",
        )
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        raise DataValidationError.at(
            path, f"duplicated column name(s) {dupes} in the header", fix="give every column a unique name"
        )
    return names


def read_table(path: Path, header: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    """Read the columns named in `types`, in that order, as those types; diagnose the file if pyarrow refuses it."""
    path = Path(path)
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(types)),
        )
    except pa.ArrowInvalid as exc:
        raise diagnose(path, header, types, exc) from None


def diagnose(path: Path, header: list[str], types: dict[str, pa.DataType], exc: Exception) -> DataValidationError:
    """Find the first thing in the file that pyarrow could not read, and say where it is.

    Checked in the order a person would fix them: encoding, then row shape, then cell values.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start)
        start = raw.rfind(b"\n", 0, error.start) + 1
        field = raw.count(b",", start, error.start)
        column = header[field] if line > 0 and field < len(header) else None
        return DataValidationError.at(
            path,
            f"bytes that are not valid UTF-8 (byte {error.start}: {raw[error.start : error.start + 4]!r})",
            fix="save the file as UTF-8 (e.g. pandas to_csv(..., encoding='utf-8'))",
            column=column,
            row=line - 1 if line > 0 else None,
        )
    rows = csv.reader(io.StringIO(text))
    next(rows, None)
    for index, fields in enumerate(rows):
        if fields and len(fields) != len(header):
            suspects = [label for d, label in _SUSPECT_DELIMITERS.items() if len(fields) == 1 and d in fields[0]]
            if suspects:
                problem = f"1 field where the header has {len(header)}, and it contains {suspects[0]}"
                fix = "write every line with ',' as the delimiter"
            elif len(fields) < len(header):
                problem = (
                    f"{len(fields)} field(s) where the header has {len(header)}: "
                    f"the line is truncated or values are missing"
                )
                fix = "complete the line (a file cut off while being written looks like this) or remove it"
            else:
                problem = f"{len(fields)} field(s) where the header has {len(header)}"
                fix = "remove the extra values, or quote values that contain commas"
            return DataValidationError.at(path, problem, fix=fix, row=index)
    return _first_bad_value(path, header, types, exc)


def _first_bad_value(
    path: Path, header: list[str], types: dict[str, pa.DataType], exc: Exception
) -> DataValidationError:
    """The first cell, column by column in `types` order, that does not parse as its declared type."""
    strings = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=_PARSE,
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(types, pa.string()), include_columns=list(types), strings_can_be_null=False
        ),
    )
    match = _ARROW_COLUMN.search(str(exc))
    reported = (header[int(match.group(1))], match.group(2)) if match else (None, None)
    for name, kind in types.items():
        values = strings.column(name).to_pandas()
        bad = ~values.isin(NULL_TOKENS) & ~_parses(values, kind)
        if name == reported[0]:
            bad |= values == reported[1]
        hits = bad.to_numpy().nonzero()[0]
        if len(hits):
            row = int(hits[0])
            expected = "an integer such as 0 or 1" if pa.types.is_integer(kind) else "a number"
            return DataValidationError.at(
                path,
                f"value {values.iloc[row]!r} is not {expected}",
                fix=f"write only {'integers' if pa.types.is_integer(kind) else 'numbers'} in this column "
                "(encode categories as numbers before landing the data)",
                column=name,
                row=row,
            )
    return DataValidationError.at(
        path, f"pyarrow could not read the file ({exc})", fix="check the file against the expected CSV layout"
    )


def _parses(values: pd.Series, kind: pa.DataType) -> pd.Series:
    """Which strings pyarrow would accept as `kind`; approximated per element, used only on the slow path."""
    stripped = values.astype(str)
    if pa.types.is_integer(kind):
        return stripped.str.fullmatch(r"[+-]?\d+")
    numeric = pd.to_numeric(stripped, errors="coerce")
    special = stripped.str.lower().str.lstrip("+-").isin({"inf", "infinity", "nan"})
    return numeric.notna() | special
