"""An append-only JSONL ledger of every decision: the audit trail `retrain status` reads.

MLflow holds the runs and versions, but the story of *why* the champion is what it is (each gate
decision, each manual promotion or rollback, each drift event) must survive in one plain file that a
human can read with `cat` and that no tool ever rewrites. Writers take an exclusive `flock`, append
one whole line with a single `write`, and `fsync` before returning, so concurrent tasks never
interleave or lose a line, and a crash can at worst leave a torn last line, which readers skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DECISIONS = frozenset({"deploy", "skip", "promote", "rollback", "drift"})
TRIGGERS = frozenset({"schedule", "drift", "manual"})
_OWNED = ("seq", "ts")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if needed) for the duration of the block.

    `flock` serialises processes on the same host and threads that open the file separately; it
    does not work across hosts on most network filesystems.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the code that made a decision, when it runs from a git checkout; else None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: they become None so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _check(entry: dict[str, Any]) -> None:
    owned = [k for k in _OWNED if k in entry]
    if owned:
        raise ValueError(f"the ledger sets {', '.join(owned)} itself; remove it from the entry")
    decision = entry.get("decision")
    if decision not in DECISIONS:
        raise ValueError(f"ledger entry decision {decision!r} is not one of {sorted(DECISIONS)}")
    trigger = entry.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        raise ValueError(f"ledger entry trigger {trigger!r} is not one of {sorted(TRIGGERS)}")


def _parse(lines: list[bytes], path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            log.warning("ledger %s line %d is not valid JSON (a torn write?); skipped", path, number)
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def append(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one decision to the ledger and return it as written (with `seq` and `ts`).

    Args:
        path: The ledger file (`settings.ledger_path`); created with its folder when missing.
        entry: The decision's fields (see `decision_entry`); must include `decision`.

    Returns:
        The entry as written: `seq` (1, 2, ... in file order) and `ts` (UTC ISO 8601) first.

    Raises:
        ValueError: When `decision` or `trigger` is not an accepted value, or the entry sets `seq`/`ts`.
    """
    _check(entry)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as handle:
            existing = handle.read()
        previous = _parse(existing.splitlines(), path)
        seq = max((int(e.get("seq", 0) or 0) for e in previous), default=0) + 1
        written = {"seq": seq, "ts": datetime.now(UTC).isoformat(timespec="microseconds"), **_json_safe(entry)}
        line = json.dumps(written, sort_keys=False, ensure_ascii=False) + "\n"
        # A crash mid-write can leave a last line without its newline: start on a fresh line.
        prefix = "\n" if existing and not existing.endswith(b"\n") else ""
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


def read(path: Path) -> list[dict[str, Any]]:
    """Every entry, in the order written (oldest first); an absent ledger is empty."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return _parse(data.splitlines(), path)


def find(path: Path, **match: Any) -> dict[str, Any] | None:
    """The latest entry whose fields equal all of `match`, or None.

    Used for idempotency: a rerun of the same day checks, e.g.,
    `find(path, ds=ds, decision="deploy", run_id=run_id)` before appending again.
    """
    for entry in reversed(read(path)):
        if all(key in entry and entry[key] == value for key, value in match.items()):
            return entry
    return None


def decision_entry(
    decision: Any,
    *,
    ds: str,
    version: str | None,
    trigger: str,
    run_id: str | None = None,
    window: list[str] | None = None,
) -> dict[str, Any]:
    """The ledger entry for a gate decision (a `retrain.model.gate.GateDecision`), in DESIGN's fields.

    Args:
        decision: The gate decision.
        ds: The logical date of the retrain.
        version: The registered version (deployed or not), or None when nothing was registered.
        trigger: `schedule`, `drift` or `manual`.
        run_id: The MLflow run of the challenger.
        window: The training window's days.

    Returns:
        A dict ready for `append`.
    """
    return {
        "ds": ds,
        "decision": decision.decision,
        "metric": decision.metric,
        "challenger_score": decision.challenger_score,
        "champion_score": decision.champion_score,
        "threshold": decision.threshold,
        "min_improvement": decision.min_improvement,
        "version": version,
        "trigger": trigger,
        "reasons": list(decision.reasons),
        "run_id": run_id,
        "window": list(window or []),
        "git_sha": git_sha(),
    }
