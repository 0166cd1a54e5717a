"""The state of the system as one JSON object: what `retrain status --json` prints.

Tools and people read this shape (`docs/DESIGN.md`, "Outputs that tools read"), so it is built in one place
from the two sources of truth: the registry's `champion` alias (what is deployed now) and the ledger
(why: every decision, oldest first).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.records import ledger

if TYPE_CHECKING:
    from retrain.settings import Settings

HISTORY_FIELDS = (
    "ds",
    "challenger_score",
    "champion_score",
    "threshold",
    "decision",
    "version",
    "trigger",
    "reasons",
    "ci_low",
    "ci_high",
    "approved_by",
    "approval",
)
HISTORY_DECISIONS = frozenset({"deploy", "skip", "promote", "rollback"})
PERFORMANCE_FIELDS = ("ds", "metric", "value", "rows", "version")


def _float_or_none(value: Any) -> float | None:
    """A score as JSON can hold it: NaN or a missing value is null, never the invalid token NaN."""
    try:
        number = None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _history_row(entry: dict[str, Any]) -> dict[str, Any]:
    row = {key: entry.get(key) for key in HISTORY_FIELDS}
    row["challenger_score"] = _float_or_none(row["challenger_score"])
    row["champion_score"] = _float_or_none(row["champion_score"])
    row["threshold"] = _float_or_none(row["threshold"])
    row["ci_low"] = _float_or_none(row["ci_low"])  # entries written before the interval gate have none
    row["ci_high"] = _float_or_none(row["ci_high"])
    row["version"] = None if row["version"] is None else str(row["version"])
    # RETRAIN_APPROVAL=required: the person's answer {outcome, by, at, comment}; None when nobody was asked.
    approval = row["approval"] if isinstance(row["approval"], dict) else None
    row["approval"] = None if approval is None else {k: approval.get(k) for k in ("outcome", "by", "at", "comment")}
    row["reasons"] = [str(r) for r in (row["reasons"] or [])]
    row["window"] = [str(d) for d in (entry.get("window") or [])]  # the labelled days trained on: first, last
    return row


def performance_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The realised metric of each scored day whose labels arrived, in the order measured.

    Args:
        entries: Ledger entries (`ledger.read`); only those with `decision == "performance"` count.

    Returns:
        `[{ds, metric, value (float | None when undefined), rows, version}, ...]`.
    """
    return [_performance_row(e) for e in entries if e.get("decision") == "performance"]


def _performance_row(entry: dict[str, Any]) -> dict[str, Any]:
    row = {key: entry.get(key) for key in PERFORMANCE_FIELDS}
    row["value"] = _float_or_none(row["value"])
    row["rows"] = int(row["rows"] or 0)
    row["version"] = str(row["version"])
    return row


def _store_missing(tracking_uri: str) -> bool:
    """A SQLite store that was never created has no champion; checking avoids importing MLflow."""
    prefix = "sqlite:///"
    return tracking_uri.startswith(prefix) and not Path(tracking_uri[len(prefix) :]).exists()


def _champion(settings: Settings, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    if _store_missing(settings.mlflow_tracking_uri):
        return None
    from retrain.registry import Registry

    ref = Registry.from_settings(settings).champion()
    if ref is None:
        return None
    tags = ref.tags
    # The version's tags are the record; the ledger fills in what an older version lacks.
    recorded = next(
        (
            e
            for e in reversed(entries)
            if str(e.get("version")) == ref.version and e.get("decision") in ("deploy", "promote", "rollback")
        ),
        {},
    )
    score = _float_or_none(tags.get("score"))
    if score is None:
        score = _float_or_none(recorded.get("challenger_score"))
    return {
        "version": ref.version,
        "metric": tags.get("metric") or recorded.get("metric") or settings.metric,
        "score": score,
        "ds": tags.get("ds") or recorded.get("ds"),
        "label": tags.get("label") or recorded.get("label") or None,
    }


def build_status(settings: Settings) -> dict[str, Any]:
    """The `retrain status --json` object.

    Shape: `{"model_name", "champion": {version, metric, score, ds, label} | null, "history": [...],
    "performance": [...], "drift_events": [...]}`. `history` holds the gate decisions (`deploy`/`skip`)
    and the manual `promote`/`rollback` entries, oldest first, with the fields `docs/DESIGN.md` lists
    plus `window` (the first and last labelled day trained on; empty for manual entries).
    `performance` lists the realised metric of each scored day whose labels arrived, in the order
    measured: `{ds, metric, value, rows, version}`. Drift events are not decisions, so they are
    listed apart under `drift_events` (the ledger entries as written, minus the ledger's internal `seq`).
    """
    entries = ledger.read(settings.ledger_path)
    history = [_history_row(e) for e in entries if e.get("decision") in HISTORY_DECISIONS]
    drift_events = [{k: v for k, v in e.items() if k != "seq"} for e in entries if e.get("decision") == "drift"]
    performance = performance_rows(entries)
    return {
        "model_name": settings.model_name,
        "champion": _champion(settings, entries),
        "history": history,
        "performance": performance,
        "drift_events": drift_events,
    }
