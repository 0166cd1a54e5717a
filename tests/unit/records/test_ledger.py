"""The append-only decision ledger: ordering, idempotency lookups, torn lines and concurrent writers."""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime
from pathlib import Path

import pytest

from retrain.model.gate import decide
from retrain.records import ledger


def _entry(ds: str, decision: str = "skip", **extra: object) -> dict:
    return {"ds": ds, "decision": decision, "trigger": "schedule", "challenger_score": 0.8, **extra}


def test_append_adds_seq_and_utc_ts(tmp_path: Path) -> None:
    path = tmp_path / "home" / "ledger.jsonl"
    first = ledger.append(path, _entry("2025-12-01"))
    second = ledger.append(path, _entry("2025-12-08", "deploy", version="1"))
    assert (first["seq"], second["seq"]) == (1, 2)
    assert datetime.fromisoformat(first["ts"]).utcoffset().total_seconds() == 0
    assert ledger.read(path) == [first, second]
    assert len(path.read_text().splitlines()) == 2


def test_append_never_rewrites_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(path, _entry("2025-12-01"))
    before = path.read_bytes()
    ledger.append(path, _entry("2025-12-08"))
    assert path.read_bytes().startswith(before)


def test_read_missing_ledger_is_empty(tmp_path: Path) -> None:
    assert ledger.read(tmp_path / "absent.jsonl") == []
    assert ledger.find(tmp_path / "absent.jsonl", ds="2025-12-01") is None


def test_find_returns_latest_match(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(path, _entry("2025-12-01", "skip"))
    ledger.append(path, _entry("2025-12-08", "deploy", version="1", run_id="r1"))
    ledger.append(path, _entry("2025-12-08", "promote", version="1", trigger="manual"))
    assert ledger.find(path, ds="2025-12-08")["decision"] == "promote"
    assert ledger.find(path, ds="2025-12-08", decision="deploy")["run_id"] == "r1"
    assert ledger.find(path, ds="2025-12-15") is None
    assert ledger.find(path, ds="2025-12-01", version="1") is None  # a key the entry lacks never matches


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"ds": "2025-12-01", "decision": "maybe"}, "decision"),
        ({"ds": "2025-12-01", "decision": "skip", "trigger": "cron"}, "trigger"),
        ({"ds": "2025-12-01", "decision": "skip", "seq": 5}, "seq"),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, entry: dict, message: str) -> None:
    path = tmp_path / "ledger.jsonl"
    with pytest.raises(ValueError, match=message):
        ledger.append(path, entry)
    assert not path.exists() or path.read_text() == ""


def test_nan_becomes_null(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(path, _entry("2025-12-01", challenger_score=math.nan))
    line = path.read_text().strip()
    assert json.loads(line)["challenger_score"] is None
    assert "NaN" not in line


def test_torn_last_line_is_skipped_and_next_append_is_whole(tmp_path: Path) -> None:
    # given a ledger whose last write was cut short by a crash
    path = tmp_path / "ledger.jsonl"
    ledger.append(path, _entry("2025-12-01"))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"ds": "2025-12-08", "decis')
    # when appending again / then the torn line is skipped and the new entry is intact
    written = ledger.append(path, _entry("2025-12-15"))
    assert [e["ds"] for e in ledger.read(path)] == ["2025-12-01", "2025-12-15"]
    assert written["seq"] == 2


def test_concurrent_appends_keep_every_line(tmp_path: Path) -> None:
    # given 8 threads appending 25 entries each to one ledger
    path = tmp_path / "ledger.jsonl"
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(25):
                ledger.append(path, _entry("2025-12-01", reasons=[f"w{worker}-{i}" * 20]))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then no line is lost, torn or numbered twice
    assert errors == []
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, 201))
    assert len({e["reasons"][0] for e in entries}) == 200


def test_decision_entry_has_design_fields(tmp_path: Path) -> None:
    decision = decide(0.91, 0.88, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    entry = ledger.decision_entry(
        decision, ds="2025-12-08", version="2", trigger="schedule", run_id="abc", window=["2025-12-01"]
    )
    for key in ("ds", "challenger_score", "champion_score", "threshold", "decision", "version", "trigger", "reasons"):
        assert key in entry
    assert entry["decision"] == "deploy"
    assert entry["reasons"] == decision.reasons
    assert entry["metric"] == "roc_auc"
    assert entry["run_id"] == "abc"
    assert entry["window"] == ["2025-12-01"]
    assert entry["git_sha"] is None or len(entry["git_sha"]) == 40
    written = ledger.append(tmp_path / "ledger.jsonl", entry)
    assert written["decision"] == "deploy"
