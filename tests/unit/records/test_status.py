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
        "window": ["2025-12-01", "2025-12-01"],
    }
    assert skip["champion_score"] == 0.91
    assert skip["version"] is None
    assert skip["trigger"] == "drift"
    assert promote["trigger"] == "manual"
    assert [d["ds"] for d in status["drift_events"]] == ["2025-12-14"]
    assert status["drift_events"][0]["reasons"] == ["psi 0.4"]
