"""Atomic writes (with the umask's mode), file locks, and JSONL that survives torn lines."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain.io import append_jsonl, atomic_path, file_lock, read_jsonl, write_json, write_text


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_files_get_the_mode_of_a_plain_open(tmp_path: Path, umask: int) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_path(tmp_path / "new" / "by_path.bin") as tmp:
        tmp.write_bytes(b"x")

    written = [
        write_text(tmp_path / "a.txt", "x"),
        write_json(tmp_path / "b.json", {}),
        tmp_path / "new" / "by_path.bin",
    ]

    assert mode(plain) == 0o666 & ~umask
    assert [mode(p) for p in written] == [0o666 & ~umask] * 3
    assert mode(tmp_path / "new") == 0o777 & ~umask  # a folder made for the file: like mkdir(1)
    assert append_jsonl(tmp_path / "log.jsonl", {"a": 1}) and mode(tmp_path / "log.jsonl") == 0o666 & ~umask


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    dest = write_text(tmp_path / "f.txt", "old")

    def crash() -> None:
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash()
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_read_jsonl_skips_and_names_torn_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2\n[1, 2]\n\n\xff\xfe\n{"a": 3}\n')

    with caplog.at_level(logging.WARNING):
        assert read_jsonl(path) == [{"a": 1}, {"a": 3}]

    assert f"{path} line 2 is not valid JSON" in caplog.text
    assert f"{path} line 3 is not a JSON object" in caplog.text
    assert f"{path} line 5 is not valid JSON" in caplog.text
    assert read_jsonl(tmp_path / "absent.jsonl") == []


def test_append_jsonl_starts_on_a_fresh_line_after_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2, "b"')

    append_jsonl(path, {"a": 3})
    written = append_jsonl(path, lambda before: {"a": len(before) + 10})

    assert path.read_bytes() == b'{"a": 1}\n{"a": 2, "b"\n{"a": 3}\n{"a": 12}\n'
    assert written == {"a": 12}


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"

    def writer(n: int) -> None:
        for i in range(50):
            append_jsonl(path, lambda before, n=n, i=i: {"seq": len(before) + 1, "writer": n, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = read_jsonl(path)
    assert [e["seq"] for e in entries] == list(range(1, 201))


def test_file_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    lock, order = tmp_path / "sub" / ".lock", []

    def second() -> None:
        with file_lock(lock):
            order.append("second")

    with file_lock(lock):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.2)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]


def test_file_lock_without_waiting_refuses_while_held(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with file_lock(lock), pytest.raises(BlockingIOError), file_lock(lock, wait=False):
        pytest.fail("entered a held lock")
    with file_lock(lock, wait=False):  # released: taken at once
        pass
