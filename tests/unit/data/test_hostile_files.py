"""Files that are not the expected CSV at all: refused as bad data, never a crash, never quoted.

Whatever the diagnosis of a refused file cannot parse itself (huge fields, odd encodings, NUL bytes,
binary) must still end as a `BadDataError` (bad data: no retry), and no raw content of a file that
does not look like the expected CSV may appear in the message (it is sent to chat channels).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.data.errors import BadDataError
from retrain.data.validate import read_features, read_target

MARK = "Zq9secret"
HOSTILE = {
    "passwd": f"root:x:0:0:root:/root:/bin/bash\ndaemon:{MARK}:1:1::/usr/sbin\n".encode(),
    "env-file": f"TG_TOKEN={MARK}\nOTHER=1\n".encode(),
    "private-key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MARK}\n-----END OPENSSH PRIVATE KEY-----\n".encode(),
    "utf-16": f"f00,f01\n1,{MARK}\n".encode("utf-16"),
    "latin-1": f"f00,f01\n1,caf\xe9{MARK}\n".encode("latin-1"),
    "nul-bytes": f"f00,f01\n1,2\x00{MARK}\n".encode(),
    "binary": bytes(range(256)) * 100 + MARK.encode(),
    "gzip-like": b"\x1f\x8b\x08\x00" + MARK.encode() + b"\x00" * 1000,
    "oversized-field": b"f00,f01\n1," + MARK.encode() * 300_000 + b"\n",
    "one-huge-line": MARK.encode() * 500_000,
    "unclosed-quote": f'f00,f01\n1,"{MARK}\n2,3\n'.encode() + b"4,5\n" * 1000,
}


def _read_features_expected(path: Path) -> object:
    return read_features(path, ["f00", "f01"])


def _read_features_first_day(path: Path) -> object:
    return read_features(path)


def _read_target(path: Path) -> object:
    return read_target(path, 1)


@pytest.mark.parametrize("reader", [_read_features_expected, _read_features_first_day, _read_target])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_is_bad_data_and_never_quoted(tmp_path, case: str, reader) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data.csv"
    path.write_bytes(HOSTILE[case])
    with pytest.raises(BadDataError) as caught:
        reader(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "Fix:" in message
    assert MARK not in message, message
    assert "0:0:root" not in message and "PRIVATE" not in message and "TG_TOKEN" not in message, message
    assert len(message) < 1000, message
