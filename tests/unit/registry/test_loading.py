"""Verified loading: only untampered models made of allowed types load; unverified ones only when allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from tests.helpers.malicious_models import PAYLOADS, model_folder, pickle_folder

from retrain.io import sha256_file
from retrain.registry import (
    Registry,
    RegistryError,
    TamperedModelError,
    UntrustedModelError,
    UnverifiedModelError,
    skops_trusted_types,
)


def test_load_model_round_trip(registry: Registry, logreg: Any, hgb: Any, data: Any, new_version: Any) -> None:
    # given a linear model and a HistGradientBoosting model (needs skops trusted types)
    X, _ = data
    for model, ds in ((logreg, "2025-12-01"), (hgb, "2025-12-08")):
        version = new_version(model, X, ds)
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


def test_tampered_model_is_refused(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    # given a registered model whose saved file is modified afterwards
    version = new_version(logreg, data[0], "2025-12-01")
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


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_model_folder_never_runs(registry: Registry, tmp_path: Path, payload: str) -> None:
    # given a model folder whose skops file calls `payload` on load, and whose MLmodel trusts it
    marker = tmp_path / "marker"
    folder = model_folder(tmp_path / "model", payload, marker)
    # when loaded, even with unverified models allowed / then it is refused, naming the type
    for allow in (False, True):
        with pytest.raises(UntrustedModelError, match=payload.replace(".", r"\.")):
            registry.load_model(str(folder), allow_unverified=allow)
    # and nothing ran
    assert not marker.exists()


def test_crafted_run_with_a_matching_checksum_never_runs(registry: Registry, tmp_path: Path) -> None:
    # given an attacker with write access to MLflow: a run holding a crafted model AND its true SHA-256
    marker = tmp_path / "marker"
    folder = model_folder(tmp_path / "model", "numpy.testing.runstring", marker)
    client = registry.client
    run = client.create_run(registry._experiment())
    client.log_artifacts(run.info.run_id, str(folder), artifact_path="model")
    client.set_tag(run.info.run_id, "model_sha256", sha256_file(folder / "model.skops"))
    client.set_terminated(run.info.run_id)
    # when loaded / then the checksum passes but the type check refuses it, and nothing ran
    with pytest.raises(UntrustedModelError, match=r"numpy\.testing\.runstring"):
        registry.load_model(f"runs:/{run.info.run_id}/model")
    assert not marker.exists()


def test_pickle_model_is_refused(registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = pickle_folder(tmp_path / "model", marker)
    with pytest.raises(UntrustedModelError, match="cloudpickle, which runs arbitrary code"):
        registry.load_model(str(folder), allow_unverified=True)
    assert not marker.exists()


def test_model_without_checksum_needs_the_flag(store: dict[str, Any], registry: Registry, tmp_path: Path) -> None:
    # given a genuine model folder: no model_sha256 is recorded anywhere for it
    folder = model_folder(tmp_path / "model", None, tmp_path / "unused")
    # when loaded without the flag / then refused, saying how to allow it
    with pytest.raises(UnverifiedModelError, match="no recorded SHA-256.*--allow-unverified"):
        registry.load_model(str(folder))
    # when allowed per call, or by the registry's setting / then it loads
    assert isinstance(registry.load_model(str(folder), allow_unverified=True), LogisticRegression)
    allowing = Registry(store["tracking_uri"], registry.model_name, store["artifact_root"], allow_unverified=True)
    assert isinstance(allowing.load_model(str(folder)), LogisticRegression)


def test_model_file_outside_the_folder_is_refused(registry: Registry, tmp_path: Path) -> None:
    import yaml

    folder = model_folder(tmp_path / "model", None, tmp_path / "unused")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["pickled_model"] = "../elsewhere.skops"
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    (tmp_path / "elsewhere.skops").write_bytes((folder / "model.skops").read_bytes())
    with pytest.raises(RegistryError, match="not in it"):
        registry.load_model(str(folder), allow_unverified=True)


def test_unknown_version_or_alias(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    new_version(logreg, data[0], "2025-12-01")
    with pytest.raises(RegistryError, match="has no version '9'"):
        registry.load_model(f"models:/{registry.model_name}/9")
    with pytest.raises(RegistryError, match="has no alias 'champion'.*run the retrain DAG"):
        registry.load_model(f"models:/{registry.model_name}@champion")


def test_a_model_that_is_not_there_is_bad_input(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    from retrain.errors import classify
    from retrain.registry import ModelNotFoundError

    new_version(logreg, data[0], "2025-12-01")
    name = registry.model_name
    cases = {
        f"models:/{name}/99": "registered versions: 1",
        f"models:/{name}@nosuchalias": "aliases: ",
        "models:/no-such-model/1": "no registered model 'no-such-model'",
        "runs:/0123456789abcdef0123456789abcdef/model": "no such run",
        "/no/such/path": "the path does not exist",
        "file:///no/such/path": "the path does not exist",
    }
    for uri, fragment in cases.items():
        with pytest.raises(ModelNotFoundError, match=fragment) as raised:
            registry.load_model(uri, allow_unverified=True)
        assert classify(raised.value) == "bad_input", uri  # a task fails at once, never retried
