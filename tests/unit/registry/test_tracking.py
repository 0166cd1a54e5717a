"""Tracking: logging a challenger run with its model and artifacts, the gate decision, idempotent registration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retrain.model.gate import decide
from retrain.registry import (
    Registry,
)


def test_log_and_register_is_idempotent(
    registry: Registry, logreg: Any, data: Any, tmp_path: Path, log_run: Any
) -> None:
    # given a challenger logged with an extra artifact
    X, _ = data
    card = tmp_path / "metrics.json"
    card.write_text('{"roc_auc": 0.9}')
    run_id = log_run(logreg, X, artifacts={"card/metrics.json": card})
    # when registered twice (a task rerun)
    first = registry.register(run_id, ds="2025-12-01", label="v1.2", tags={"trigger": "schedule"})
    again = registry.register(run_id, ds="2025-12-01", label="v1.2")
    # then there is one version, with its tags, and the run holds what was logged
    assert (first, again) == ("1", "1")
    versions = registry.versions()
    assert [v["version"] for v in versions] == ["1"]
    tags = versions[0]["tags"]
    assert (tags["window_start"], tags["window_end"], tags["window_days"]) == ("2025-11-24", "2025-11-26", "3")
    assert tags["ds"] == "2025-12-01"
    assert tags["label"] == "v1.2"
    assert tags["run_id"] == run_id
    assert len(tags["model_sha256"]) == 64
    run = registry.client.get_run(run_id)
    assert run.info.run_name == "retrain-2025-12-01"
    assert run.data.params["window_start"] == "2025-11-24"
    assert run.data.params["window_end"] == "2025-11-26"
    assert run.data.params["window_days"] == "3"
    assert json.loads(run.data.params["estimator_params"]) == {"max_iter": 10}
    assert run.data.metrics["roc_auc"] == 0.9
    assert run.data.tags["model_sha256"] == tags["model_sha256"]
    assert run.data.tags["ds"] == "2025-12-01"
    assert run.data.tags["trigger"] == "schedule"
    listed = [a.path for a in registry.client.list_artifacts(run_id, "card")]
    assert listed == ["card/metrics.json"]
    # and everything stays under the artifact root
    assert registry.client.get_experiment_by_name(registry.model_name).artifact_location.startswith(
        registry.artifact_root.as_uri()
    )


def test_record_decision(registry: Registry, logreg: Any, data: Any, tmp_path: Path, log_run: Any) -> None:
    run_id = log_run(logreg, data[0])
    decision = decide(0.93, 0.9, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    registry.record_decision(run_id, decision, champion_version="4")
    run = registry.client.get_run(run_id)
    assert run.data.metrics["champion_roc_auc"] == 0.9
    assert run.data.tags["gate.decision"] == "deploy"
    assert "beats champion 0.9000" in run.data.tags["gate.reasons"]
    local = registry.client.download_artifacts(run_id, "gate_decision.json", str(tmp_path))
    saved = json.loads(Path(local).read_text())
    assert saved["deploy"] is True
    assert saved["champion_version"] == "4"
    assert saved["reasons"] == decision.reasons
    # the decision's metric and score travel to the registered version
    version = registry.register(run_id, ds="2025-12-01")
    assert registry.get(version).tags["metric"] == "roc_auc"
    assert float(registry.get(version).tags["score"]) == 0.93


def test_record_decision_logs_the_interval(registry: Registry, logreg: Any, data: Any, log_run: Any) -> None:
    import dataclasses

    run_id = log_run(logreg, data[0])
    point = decide(0.93, 0.9, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    decision = dataclasses.replace(
        point,
        method="bootstrap",
        confidence=0.95,
        ci_low=0.01,
        ci_high=0.05,
        challenger_ci_low=0.9,
        challenger_ci_high=0.95,
    )
    registry.record_decision(run_id, decision, champion_version="4")
    run = registry.client.get_run(run_id)
    assert (run.data.metrics["gate_ci_low"], run.data.metrics["gate_ci_high"]) == (0.01, 0.05)
    assert (run.data.metrics["roc_auc_ci_low"], run.data.metrics["roc_auc_ci_high"]) == (0.9, 0.95)
    assert (run.data.tags["gate.method"], run.data.tags["gate.confidence"]) == ("bootstrap", "0.95")


def test_tracking_uri_is_restored(registry: Registry, logreg: Any, data: Any, log_run: Any) -> None:
    import mlflow

    mlflow.set_tracking_uri("sqlite:////nonexistent/elsewhere.db")
    try:
        log_run(logreg, data[0])
        assert mlflow.get_tracking_uri() == "sqlite:////nonexistent/elsewhere.db"
    finally:
        mlflow.set_tracking_uri(None)
