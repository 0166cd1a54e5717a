"""An append-only JSONL ledger of every decision: the audit trail `retrain status` reads.

MLflow holds the runs and versions, but the story of *why* the champion is what it is (each gate
decision, each manual promotion or rollback, each drift event) must survive in one plain file that a
human can read with `cat` and that no tool ever rewrites. Writers take an exclusive `flock`, append
one whole line with a single `write`, and `fsync` before returning, so concurrent tasks never
interleave or lose a line, and a crash can at worst leave a torn last line, which readers skip.
"""

from __future__ import annotations

import functools
import logging
import math
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrain.io import append_jsonl, read_jsonl
from retrain.io import file_lock as file_lock  # re-exported: its old home, for importers not yet moved

log = logging.getLogger(__name__)

DECISIONS = frozenset({"deploy", "skip", "promote", "rollback", "drift"})
TRIGGERS = frozenset({"schedule", "drift", "manual"})
_OWNED = ("seq", "ts")


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

    def numbered(previous: list[dict[str, Any]]) -> dict[str, Any]:
        seq = max((int(e.get("seq", 0) or 0) for e in previous), default=0) + 1
        return {"seq": seq, "ts": datetime.now(UTC).isoformat(timespec="microseconds"), **_json_safe(entry)}

    return append_jsonl(path, numbered, sort_keys=False, ensure_ascii=False)


def read(path: Path) -> list[dict[str, Any]]:
    """Every entry, in the order written (oldest first); an absent ledger is empty."""
    return read_jsonl(path)


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
