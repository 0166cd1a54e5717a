"""Files written safely: atomic replaces, file locks, and JSON Lines that survive a torn write.

- `atomic_path` / `write_text` / `write_json`: a reader never sees half a file, a crash leaves the old
  file in place, and the final file gets the mode a plain `open()` would give (0666 minus the umask),
  so a BI job or an analyst can read predictions, cards and reports.
- `file_lock`: an exclusive `flock` for a block (one host; not across hosts on network filesystems).
- `read_jsonl` / `append_jsonl`: the one reader and appender of every JSONL file (the ledger, the
  notification outbox). A torn line (a crash mid-write, a full disk) is skipped and reported with its
  file and line number; an append always starts on a fresh line, under the file's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def current_umask() -> int:
    """The process umask, read without changing it (Linux `/proc`), else by the set-and-restore idiom."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # not atomic: another thread creating a file right now would see 022
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file under the current umask: 0666 & ~umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed over `dest` in one step.

    The temporary file lives in the same folder so that the rename never crosses a filesystem.
    `mkstemp` creates it 0600; it is given the mode of a plain `open()` (0666 & ~umask) before the
    caller writes, so the final file is as readable as any other file this process creates.
    On any error the temporary file is removed and `dest` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)  # directories: 0777 & ~umask, like mkdir(1)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, default_file_mode())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(dest: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `dest` atomically; returns `dest`."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dest)


def write_json(dest: Path, data: Any) -> Path:
    """Write `data` as indented, key-sorted JSON to `dest` atomically; returns `dest`."""
    return write_text(dest, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value in `path` (raises FileNotFoundError / ValueError as `json` does)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in `chunk`-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if needed) for the duration of the block.

    `flock` serialises processes on the same host and threads that open the file separately; it
    does not work across hosts on most network filesystems.

    Raises:
        BlockingIOError: With `wait=False`, when another holder has the lock (nothing was entered).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def parse_jsonl(data: bytes, path: Path) -> list[dict[str, Any]]:
    """The JSON objects of JSONL bytes, in order; a line that is not a JSON object is skipped with a warning.

    The warning names the file and the 1-based line number, so an operator can find and repair it.
    """
    entries = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:  # includes UnicodeDecodeError
            log.warning("%s line %d is not valid JSON (a torn write?); skipped", path, number)
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            log.warning("%s line %d is not a JSON object; skipped", path, number)
    return entries


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object in a JSONL file, oldest first; torn lines skipped and reported; absent file: []."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return parse_jsonl(data, path)


def append_jsonl(
    path: Path,
    entry: dict[str, Any] | Callable[[list[dict[str, Any]]], dict[str, Any]],
    **dumps: Any,
) -> dict[str, Any]:
    """Append one JSON object as one line, under an exclusive `flock` of the file itself, and `fsync`.

    Args:
        path: The JSONL file; created (0666 & ~umask) with its folder when missing.
        entry: The object, or a function of the entries already in the file (read under the same
            lock) that returns it: how the ledger numbers its entries without a race.
        **dumps: Keyword arguments for `json.dumps` (e.g. `ensure_ascii=False`).

    Returns:
        The object as written.

    The line is written with one `write` and starts on a fresh line: a torn last line left by a
    crash is closed with a newline first, so it never swallows the new entry.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if callable(entry):
            with os.fdopen(os.dup(fd), "rb") as handle:
                existing = handle.read()
            written = entry(parse_jsonl(existing, path))
            last = existing[-1:]
        else:
            written = entry
            size = os.fstat(fd).st_size
            last = os.pread(fd, 1, size - 1) if size else b""
        line = json.dumps(written, **dumps) + "\n"
        prefix = "\n" if last and last != b"\n" else ""
        os.write(fd, (prefix + line).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return written
