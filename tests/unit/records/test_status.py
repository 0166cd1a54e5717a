"""`retrain status --json`: the exact shape DESIGN.md promises, from the ledger and the registry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from retrain.drift import TriggerDecision, assess_day
from retrain.model.gate import decide
from retrain.records import ledger
from retrain.records.status import build_status
from retrain.settings import Settings

HISTORY_KEYS = {
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
    "window",
}


def test_fresh_home(settings: Settings) -> None:
    status = build_status(settings)
    assert status == {
        "model_name": "retrain-model",
        "champion": None,
        "history": [],
        "performance": [],
        "drift_events": [],
    }
    # reading status never creates the MLflow store
    assert not (settings.home / "mlflow.db").exists()


def test_status_shape_with_champion_and_history(settings: Settings) -> None:
    from retrain.registry import Registry

    # given a deployed champion, a skip, a drift event and a manual promotion in the ledger
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    registry = Registry.from_settings(settings)
    run_id = registry.log_challenger(
        model, X, ds="2025-12-08", params={}, metrics={"roc_auc": 0.91}, tags={}, window=["2025-12-01"]
    )
    first = decide(0.91, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    registry.record_decision(run_id, first, None)
    version = registry.register(run_id, ds="2025-12-08", label="release-7")
    registry.promote(version, expected_current=None, reason="gate")
    path = settings.ledger_path
    gate = {"champion_version": None, "run_id": run_id, "window": ["2025-12-01"]}
    ledger.append(path, ledger.deploy_entry(first, ds="2025-12-08", version=version, trigger="schedule", **gate))
    skipped = decide(0.85, 0.91, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    ledger.append(
        path, ledger.skip_entry(skipped, ds="2025-12-15", trigger="drift", **{**gate, "champion_version": "1"})
    )
    shifted = X.assign(a=X["a"] + 3.0)
    day = assess_day("2025-12-14", X, shifted, settings)
    drift = ledger.drift_entry(day, TriggerDecision(should_retrain=False, reasons=["psi 0.4"]), champion_version="1")
    ledger.append(path, drift)
    ledger.append(
        path,
        ledger.promote_entry(
            ds="2025-12-16",
            version="1",
            previous_version=None,
            reason="promoted by hand",
            metric="roc_auc",
            threshold=0.8,
        ),
    )

    # when building the status
    status = json.loads(json.dumps(build_status(settings), allow_nan=False))

    # then it has DESIGN's shape
    assert set(status) == {"model_name", "champion", "history", "performance", "drift_events"}
    assert status["champion"] == {
        "version": "1",
        "metric": "roc_auc",
        "score": 0.91,
        "ds": "2025-12-08",
        "label": "release-7",
    }
    assert [h["decision"] for h in status["history"]] == ["deploy", "skip", "promote"]
    assert all(set(h) == HISTORY_KEYS for h in status["history"])
    deploy, skip, promote = status["history"]
    assert deploy == {
        "ds": "2025-12-08",
        "challenger_score": 0.91,
        "champion_score": None,
        "threshold": 0.8,
        "decision": "deploy",
        "version": "1",
        "trigger": "schedule",
        "reasons": first.reasons,
        "ci_low": None,
        "ci_high": None,
        "approved_by": None,
        "approval": None,
        "window": ["2025-12-01", "2025-12-01"],
    }
    assert skip["champion_score"] == 0.91
    assert skip["version"] is None
    assert skip["trigger"] == "drift"
    assert promote["trigger"] == "manual"
    assert [d["ds"] for d in status["drift_events"]] == ["2025-12-14"]
    assert status["drift_events"][0]["reasons"] == ["psi 0.4"]


def test_history_shows_who_approved_rejected_or_let_it_time_out(settings: Settings) -> None:
    from retrain.jobs.retrain_run import Approval

    # given: three deploys the gate accepted, then approved, rejected, and left unanswered
    path = settings.ledger_path
    gate = decide(0.91, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    common = {"trigger": "schedule", "champion_version": None, "window": ["2025-12-01"]}
    approved = Approval("approved", "alice", "2025-12-08T10:00:00+00:00", "numbers look right")
    rejected = Approval("rejected", "bob", "2025-12-15T10:00:00+00:00", "wait for the holiday data")
    timed_out = Approval("timed_out", None, "2025-12-23T10:00:00+00:00", None, timeout_seconds=3600)
    ledger.append(
        path, ledger.deploy_entry(gate, ds="2025-12-08", version="1", run_id="r1", approval=approved, **common)
    )
    ledger.append(path, ledger.skip_entry(gate, ds="2025-12-15", run_id="r2", approval=rejected, **common))
    ledger.append(path, ledger.skip_entry(gate, ds="2025-12-22", run_id="r3", approval=timed_out, **common))

    # when
    history = build_status(settings)["history"]

    # then: who decided, when and why, and approved_by only for the approval
    assert [h["decision"] for h in history] == ["deploy", "skip", "skip"]
    assert [h["approved_by"] for h in history] == ["alice", None, None]
    assert [h["approval"] for h in history] == [
        {"outcome": "approved", "by": "alice", "at": "2025-12-08T10:00:00+00:00", "comment": "numbers look right"},
        {"outcome": "rejected", "by": "bob", "at": "2025-12-15T10:00:00+00:00", "comment": "wait for the holiday data"},
        {"outcome": "timed_out", "by": None, "at": "2025-12-23T10:00:00+00:00", "comment": None},
    ]
    assert history[1]["reasons"][-1] == "rejected by bob at 2025-12-15T10:00:00+00:00: 'wait for the holiday data'"
    assert "nobody answered within 3600 s" in history[2]["reasons"][-1]
