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
    """A ledger entry as production builds it (`skip_entry`, `deploy_entry`, `promote_entry`)."""
    if decision == "promote":
        entry = ledger.promote_entry(
            ds=ds,
            version=str(extra.pop("version")),
            previous_version=None,
            reason="by hand",
            metric="roc_auc",
            threshold=0.8,
        )
    else:
        gate = decide(0.8, None, threshold=0.8 if decision == "deploy" else 0.9, min_improvement=0.0, metric="roc_auc")
        common = {"ds": ds, "trigger": extra.pop("trigger", "schedule"), "champion_version": None, "window": [ds]}
        run_id = str(extra.pop("run_id", "r0"))
        if decision == "deploy":
            entry = ledger.deploy_entry(gate, version=str(extra.pop("version")), run_id=run_id, **common)
        else:
            entry = ledger.skip_entry(gate, run_id=run_id, **common)
    entry.update(extra)
    return entry


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
    ledger.append(path, _entry("2025-12-08", "promote", version="1"))
    assert ledger.find(path, ds="2025-12-08")["decision"] == "promote"
    assert ledger.find(path, ds="2025-12-08", decision="deploy")["run_id"] == "r1"
    assert ledger.find(path, ds="2025-12-15") is None
    assert ledger.find(path, ds="2025-12-01", version="1") is None  # a skip records no version
    assert ledger.find(path, ds="2025-12-01", previous_version=None) is None  # a key the entry lacks never matches


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"ds": "2025-12-01", "decision": "maybe"}, "decision"),
        ({"ds": "2025-12-01", "decision": "skip", "trigger": "cron"}, "trigger"),
        ({"ds": "2025-12-01", "decision": "skip", "seq": 5}, "seq"),
        ({"ds": "2025-12-01", "decision": "skip", "git_sha": "0" * 40}, "git_sha"),
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


def test_gate_entries_have_design_fields_and_every_line_its_git_sha(tmp_path: Path) -> None:
    # given a deploy and a skip built by the production builders
    deployed = decide(0.91, 0.88, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    entry = ledger.deploy_entry(
        deployed,
        ds="2025-12-08",
        version="2",
        trigger="schedule",
        champion_version="1",
        run_id="abc",
        window=["2025-12-03", "2025-12-01"],
        label="v-7",
    )
    for key in ("ds", "challenger_score", "champion_score", "threshold", "decision", "version", "trigger", "reasons"):
        assert key in entry
    assert entry["decision"] == "deploy"
    assert entry["reasons"] == deployed.reasons
    assert entry["metric"] == "roc_auc"
    assert entry["run_id"] == "abc"
    assert entry["window"] == ["2025-12-01", "2025-12-03"]
    assert entry["label"] == "v-7"
    # when written
    written = ledger.append(tmp_path / "ledger.jsonl", entry)
    # then the ledger stamps the code's commit on it
    assert written["decision"] == "deploy"
    assert written["git_sha"] is None or len(written["git_sha"]) == 40
    assert "git_sha" in ledger.read(tmp_path / "ledger.jsonl")[0]


def test_a_refused_deploy_is_a_skip_with_the_refusal_among_its_reasons() -> None:
    accepted = decide(0.91, 0.88, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    entry = ledger.skip_entry(
        accepted,
        ds="2025-12-08",
        trigger="drift",
        champion_version="1",
        run_id="abc",
        window=["2025-12-01"],
        refused="champion is 2, not 1",
    )
    assert entry["decision"] == "skip" and entry["version"] is None
    assert entry["reasons"][-1] == "deploy refused: champion is 2, not 1"
    with pytest.raises(ValueError, match="skip"):
        ledger.deploy_entry(
            decide(0.5, None, threshold=0.8, min_improvement=0.0, metric="roc_auc"),
            ds="2025-12-08",
            trigger="schedule",
            version="1",
            champion_version=None,
            run_id="r",
            window=["2025-12-01"],
        )


def test_manual_entries_say_who_moved_the_champion() -> None:
    promote = ledger.promote_entry(
        ds="2025-12-16", version="2", previous_version="1", reason="hotfix", metric="roc_auc", threshold=0.8
    )
    rollback = ledger.rollback_entry(
        ds="2025-12-17", version="1", previous_version="2", reason="oops", metric="roc_auc", threshold=0.8
    )
    assert (promote["decision"], promote["trigger"], promote["reasons"]) == ("promote", "manual", ["hotfix"])
    assert (rollback["decision"], rollback["version"], rollback["previous_version"]) == ("rollback", "1", "2")


def test_trigger_is_one_typed_value() -> None:
    assert ledger.TRIGGERS == ("schedule", "drift", "performance", "manual")


def test_approval_entries_record_who_when_and_why_and_refuse_contradictions() -> None:
    from retrain.jobs.retrain_run import Approval

    gate = decide(0.9, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    common = {"ds": "2025-12-08", "trigger": "schedule", "champion_version": None, "run_id": "r1", "window": ["d"]}
    approved = Approval("approved", "alice", "2025-12-08T10:00:00+00:00", "ok")
    rejected = Approval("rejected", "bob", "2025-12-08T10:00:00+00:00", None)

    deployed = ledger.deploy_entry(gate, version="3", approval=approved, **common)
    skipped = ledger.skip_entry(gate, approval=rejected, **common)

    assert (deployed["decision"], deployed["approved_by"], deployed["approval"]) == (
        "deploy",
        "alice",
        approved.to_dict(),
    )
    assert deployed["reasons"][-1] == "approved by alice at 2025-12-08T10:00:00+00:00: 'ok'"
    assert (skipped["decision"], skipped["approved_by"], skipped["approval"]["by"]) == ("skip", None, "bob")
    assert skipped["reasons"][-1] == "rejected by bob at 2025-12-08T10:00:00+00:00"
    with pytest.raises(ValueError, match="approval rejected is a skip"):
        ledger.deploy_entry(gate, version="3", approval=rejected, **common)
    with pytest.raises(ValueError, match="rejected / timed-out approval"):
        ledger.skip_entry(gate, approval=approved, **common)
    assert ledger.skip_entry(gate, approval=approved, refused="champion moved", **common)["approved_by"] == "alice"
