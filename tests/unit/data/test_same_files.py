"""Landing and scoring read files with one stack: they accept and refuse the same files, with one error.

Landing reads a day whole (`validate.read_features`); the scorer streams it in ~1 MiB blocks
(`scoring.readers`). For every file below both must agree: accepted with the same rows, or refused
with a `BadDataError` (`ScoringInputError` is the same class) that names the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrain.data.errors import BadDataError
from retrain.data.validate import read_features
from retrain.scoring import ScoringInputError, readers

COLUMNS = ["f00", "f01", "f02"]
HEADER = b"f00,f01,f02"
ROWS = b"0.5,1,2\n3,4,5.25\n-6,7,8\n"
GOOD = HEADER + b"\n" + ROWS
LONG_NAME = b"id_" + b"x" * (100 << 10)  # a 100 KiB header line
HUGE_NAME = b"id_" + b"y" * (3 << 20)  # a 3 MiB header line: larger than pyarrow's default block


def _with_extra(header_extra: bytes, value: bytes = b"a") -> bytes:
    body = b"".join(line + b"," + value + b"\n" for line in ROWS.splitlines())
    return HEADER + b"," + header_extra + b"\n" + body


# (file content, accepted?) ; an accepted file must give the same three rows to both readers; "gaps": missing
# values, accepted by landing and by a model that takes them, refused by a model trained on complete numbers
FILES = {
    "good": (GOOD, True),
    "trailing-blank-line": (GOOD + b"\n", True),
    "trailing-blank-lines-crlf": (GOOD.replace(b"\n", b"\r\n") + b"\r\n\r\n", True),
    "no-final-newline": (GOOD.rstrip(b"\n"), True),
    "bom": (b"\xef\xbb\xbf" + GOOD, True),
    "crlf": (GOOD.replace(b"\n", b"\r\n"), True),
    "extra-text-column": (_with_extra(b"note"), True),
    "quoted-newline-in-extra-column": (_with_extra(b"note", b'"two\nlines"'), True),
    "100-KiB-header-line": (_with_extra(LONG_NAME), True),
    "3-MiB-header-line": (_with_extra(HUGE_NAME), True),
    "200-KiB-field-in-extra-column": (_with_extra(b"note", b"z" * (200 << 10)), True),
    "duplicated-extra-column": (HEADER + b",id,id\n" + b"".join(r + b",a,b\n" for r in ROWS.splitlines()), False),
    "duplicated-model-column": (b"f00,f01,f02,f01\n" + b"".join(r + b",9\n" for r in ROWS.splitlines()), False),
    "empty-file": (b"", False),
    "blank-line-inside": (HEADER + b"\n0.5,1,2\n\n3,4,5.25\n", "gaps"),
    "ragged-row-short": (HEADER + b"\n0.5,1,2\n3,4\n-6,7,8\n", False),
    "ragged-row-long": (HEADER + b"\n0.5,1,2\n3,4,5,6\n-6,7,8\n", False),
    "non-numeric": (HEADER + b"\n0.5,1,2\n3,abc,5\n", False),
    "missing-value": (HEADER + b"\n0.5,,2\n", "gaps"),
    "nan": (HEADER + b"\n0.5,NaN,2\n", "gaps"),
    "infinity": (HEADER + b"\n0.5,inf,2\n", False),
    "missing-column": (b"f00,f01\n1,2\n", False),
    "semicolons": (GOOD.replace(b",", b";"), False),
    "latin-1-value": (HEADER + b"\n0.5,1,2\n3,\xe94,5\n", False),
    "latin-1-header": (b"f00,f\xe901,f02\n1,2,3\n", False),
    "utf-16": (GOOD.decode().encode("utf-16"), False),
    "utf-16-no-bom": (GOOD.decode().encode("utf-16-le"), False),
    "nul-bytes-in-a-value": (HEADER + b"\n0.5,1,2\n3,\x00\x00,5\n", False),
    "binary": (bytes(range(256)) * 64, False),
    "no-newline-binary-blob": (b"\x1f\x8b" + b"\x00\x01" * (1 << 20), False),
    "2-MiB-field-in-a-model-column": (HEADER + b"\n0.5,1,2\n3," + b"9" * (2 << 20) + b",5\n", False),
    "unclosed-quote": (HEADER + b'\n0.5,1,2\n3,"4,5\n6,7,8\n', False),
}


def _land(path: Path) -> np.ndarray:
    return read_features(path, COLUMNS).to_numpy()


def _score(path: Path, kinds: dict[str, str] | None = None) -> np.ndarray:
    batches = readers.open_features(path, COLUMNS, kinds=kinds)
    parts = [
        np.asarray(m, dtype=float)
        for _, m in readers.matrices(batches, COLUMNS, 2, first_row=0, path=path, kinds=kinds)
    ]
    matrix = np.vstack(parts) if parts else np.empty((0, len(COLUMNS)))
    assert readers.count_rows(path) == len(matrix)
    return matrix


@pytest.mark.parametrize("case", list(FILES))
def test_landing_and_scoring_accept_and_refuse_the_same_files(tmp_path: Path, case: str) -> None:
    content, accepted = FILES[case]
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    outcomes = []
    for read in (_land, _score):
        try:
            outcomes.append(read(path))
        except BadDataError as exc:  # the one error type, whatever the reader
            outcomes.append(exc)
    landed, scored = outcomes
    for outcome in outcomes:
        if isinstance(outcome, BadDataError):  # one message style: the file, then the fix
            assert str(outcome).startswith(str(path)) and "Fix:" in str(outcome), str(outcome)
    if accepted == "gaps":
        assert isinstance(landed, np.ndarray) and isinstance(scored, BadDataError), outcomes
        assert "missing value" in str(scored)
        takes_gaps = _score(path, dict.fromkeys(COLUMNS, "float"))  # a model whose schema holds missing values
        np.testing.assert_array_equal(np.asarray(landed, dtype=float), takes_gaps)
        assert np.isnan(takes_gaps).any()
    elif accepted:
        assert isinstance(landed, np.ndarray) and isinstance(scored, np.ndarray), outcomes
        np.testing.assert_array_equal(landed, [[0.5, 1, 2], [3, 4, 5.25], [-6, 7, 8]])
        np.testing.assert_array_equal(scored, landed)
    else:
        assert isinstance(landed, BadDataError) and isinstance(scored, BadDataError), outcomes


def test_the_scoring_error_is_the_data_error() -> None:
    assert ScoringInputError is BadDataError
    assert issubclass(BadDataError, ValueError)


@pytest.mark.parametrize("case", ["latin-1-value", "nul-bytes-in-a-value", "ragged-row-short", "non-numeric"])
def test_both_readers_name_the_same_row(tmp_path: Path, case: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(FILES[case][0])
    rows = []
    for read in (_land, _score):
        with pytest.raises(BadDataError) as caught:
            read(path)
        rows.append(caught.value.row)
    assert rows[0] == rows[1] == 1, rows
