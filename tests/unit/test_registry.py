"""The MLflow registry service: logging, idempotent registration, compare-and-swap promotion,
rollback, and loading only untampered, trusted models.

One MLflow store is shared by the module (creating a SQLite store costs about a second); each test
uses its own registered model name, so tests stay independent.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from retrain.model.gate import decide
from retrain.registry import (
    ModelRef,
    Registry,
    RegistryError,
    StaleChampionError,
    TamperedModelError,
    UntrustedModelError,
    skops_trusted_types,
)

WINDOW = ["2025-11-24", "2025-11-25", "2025-11-26"]


def _data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["f0", "f1", "f2", "f3"])
    y = pd.Series((X["f0"] - X["f2"] + rng.normal(scale=0.5, size=n) > 0).astype(int))
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return _data()


@pytest.fixture(scope="module")
def logreg(data: tuple[pd.DataFrame, pd.Series]) -> LogisticRegression:
    return LogisticRegression(random_state=0).fit(*data)


@pytest.fixture(scope="module")
def hgb(data: tuple[pd.DataFrame, pd.Series]) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(*data)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("mlflow-home")
    return {"tracking_uri": f"sqlite:///{home / 'mlflow.db'}", "artifact_root": home / "mlartifacts"}


@pytest.fixture
def registry(store: dict[str, Any], request: pytest.FixtureRequest) -> Registry:
    name = "m-" + request.node.name.replace("[", "-").replace("]", "")
    return Registry(store["tracking_uri"], name, store["artifact_root"])


def _log(registry: Registry, model: Any, X: pd.DataFrame, ds: str = "2025-12-01", **kw: Any) -> str:
    return registry.log_challenger(
        model,
        X,
        ds=ds,
        params={"estimator": f"sklearn.{type(model).__name__}", "estimator_params": {"max_iter": 10}},
        metrics={"roc_auc": 0.9, "accuracy": 0.8},
        tags={"trigger": "schedule"},
        window=WINDOW,
        **kw,
    )


def _new_version(registry: Registry, model: Any, X: pd.DataFrame, ds: str) -> str:
    return registry.register(_log(registry, model, X, ds=ds), ds=ds)


def test_log_and_register_is_idempotent(registry: Registry, logreg: Any, data: Any, tmp_path: Path) -> None:
    # given a challenger logged with an extra artifact
    X, _ = data
    card = tmp_path / "metrics.json"
    card.write_text('{"roc_auc": 0.9}')
    run_id = _log(registry, logreg, X, artifacts={"card/metrics.json": card})
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


def test_record_decision(registry: Registry, logreg: Any, data: Any, tmp_path: Path) -> None:
    run_id = _log(registry, logreg, data[0])
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


def test_no_champion(registry: Registry, logreg: Any, data: Any) -> None:
    assert registry.champion() is None  # model does not exist yet
    _new_version(registry, logreg, data[0], "2025-12-01")
    assert registry.champion() is None  # model exists, alias does not
    assert registry.previous_champion() is None
    with pytest.raises(RegistryError, match="no champion"):
        registry.rollback()


def test_promote_compare_and_swap(registry: Registry, logreg: Any, data: Any) -> None:
    X, _ = data
    v1 = _new_version(registry, logreg, X, "2025-12-01")
    v2 = _new_version(registry, logreg, X, "2025-12-08")

    # when promoting the first version with no champion expected
    assert registry.promote(v1, expected_current=None, reason="first model") is None
    champion = registry.champion()
    assert isinstance(champion, ModelRef)
    assert (champion.version, champion.uri) == ("1", f"models:/{registry.model_name}/1")
    assert champion.tags["promote_reason"] == "first model"
    assert "promoted_at" in champion.tags

    # a stale expectation is refused and changes nothing
    before = {v["version"]: v["tags"] for v in registry.versions()}
    with pytest.raises(StaleChampionError, match="champion .* is 1, not unset"):
        registry.promote(v2, expected_current=None, reason="late")
    assert registry.champion().version == "1"
    assert {v["version"]: v["tags"] for v in registry.versions()} == before

    # the right expectation moves the alias and keeps the previous champion, tagged
    assert registry.promote(v2, expected_current=v1, reason="better") == "1"
    assert registry.champion().version == "2"
    retired = registry.get("1").tags
    assert retired["retired_by"] == "2"
    assert "retired_at" in retired
    assert [v["aliases"] for v in registry.versions()] == [[], ["champion"]]

    # promoting the current champion again (a rerun) changes nothing
    assert registry.promote(v2, expected_current=v1, reason="rerun") == "1"
    assert registry.get("2").tags["promote_reason"] == "better"

    with pytest.raises(RegistryError, match="no version '9'"):
        registry.promote("9", expected_current=v2, reason="typo")


def test_concurrent_promotions_one_wins(registry: Registry, logreg: Any, data: Any) -> None:
    # given two versions racing to become the first champion
    X, _ = data
    versions = [_new_version(registry, logreg, X, ds) for ds in ("2025-12-01", "2025-12-08")]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def promote(version: str) -> None:
        start.wait()  # both read the champion at the same moment: only the lock can serialise them
        try:
            registry.promote(version, expected_current=None, reason="race")
            outcomes.append("ok")
        except StaleChampionError:
            outcomes.append("stale")

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one wins and the other is told the champion changed
    assert sorted(outcomes) == ["ok", "stale"]
    assert registry.champion().version in versions


def test_rollback_walks_back(registry: Registry, logreg: Any, data: Any) -> None:
    X, _ = data
    v1, v2, v3 = (_new_version(registry, logreg, X, ds) for ds in ("2025-12-01", "2025-12-08", "2025-12-15"))
    registry.promote(v1, expected_current=None, reason="a")
    registry.promote(v2, expected_current=v1, reason="b")
    registry.promote(v3, expected_current=v2, reason="c")
    assert registry.previous_champion() == "2"

    assert registry.rollback(reason="bad model") == ("3", "2")
    assert registry.champion().version == "2"
    assert "rolled_back_at" in registry.get("3").tags
    assert registry.get("3").tags["retired_by"] == "2"
    assert registry.rollback(reason="still bad") == ("2", "1")
    assert registry.previous_champion() is None
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback()
    # an explicit target is allowed, and every version is still there
    assert registry.rollback(to="3", reason="it was fine") == ("1", "3")
    assert [v["version"] for v in registry.versions()] == ["1", "2", "3"]


def test_load_model_round_trip(registry: Registry, logreg: Any, hgb: Any, data: Any) -> None:
    # given a linear model and a HistGradientBoosting model (needs skops trusted types)
    X, _ = data
    for model, ds in ((logreg, "2025-12-01"), (hgb, "2025-12-08")):
        version = _new_version(registry, model, X, ds)
        # when loaded by ref and by URIs / then it predicts exactly as the original
        ref = registry.get(version)
        for target in (ref, f"models:/{registry.model_name}/{version}", f"runs:/{ref.run_id}/model"):
            loaded = registry.load_model(target)
            assert type(loaded) is type(model)
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    registry.promote("2", expected_current=None, reason="hgb")
    loaded = registry.load_model(f"models:/{registry.model_name}@champion")
    assert isinstance(loaded, HistGradientBoostingClassifier)


def _model_file(registry: Registry, version: str) -> Path:
    run = registry.client.get_run(registry.get(version).run_id)
    location = registry.client.get_logged_model(run.data.tags["model_id"]).artifact_location
    return Path(location.removeprefix("file://")) / "model.skops"


def test_tampered_model_is_refused(registry: Registry, logreg: Any, data: Any) -> None:
    # given a registered model whose saved file is modified afterwards
    version = _new_version(registry, logreg, data[0], "2025-12-01")
    path = _model_file(registry, version)
    assert path.is_file()
    with open(path, "ab") as handle:
        handle.write(b"\0")
    # when loading it / then it is refused, naming the problem
    with pytest.raises(TamperedModelError, match="SHA-256"):
        registry.load_model(registry.get(version))
    with pytest.raises(TamperedModelError):
        registry.load_model(f"models:/{registry.model_name}/{version}")
    with pytest.raises(TamperedModelError):
        registry.load_model(f"runs:/{registry.get(version).run_id}/model")


def _custom_feature(X: Any) -> Any:
    return X


def test_untrusted_types_are_refused(data: Any) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = data
    assert skops_trusted_types(LogisticRegression().fit(X, y)) == []
    assert skops_trusted_types(HistGradientBoostingClassifier(max_iter=2).fit(X, y)) == [
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    ]
    pipeline = make_pipeline(FunctionTransformer(_custom_feature), LogisticRegression()).fit(X, y)
    with pytest.raises(UntrustedModelError, match="_custom_feature"):
        skops_trusted_types(pipeline)


def test_tracking_uri_is_restored(registry: Registry, logreg: Any, data: Any) -> None:
    import mlflow

    mlflow.set_tracking_uri("sqlite:////nonexistent/elsewhere.db")
    try:
        _log(registry, logreg, data[0])
        assert mlflow.get_tracking_uri() == "sqlite:////nonexistent/elsewhere.db"
    finally:
        mlflow.set_tracking_uri(None)
