"""The daily jobs' registry: the champion and its model from the model cache, MLflow only on a miss."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tests.unit.registry.test_cache import _settle

from retrain.registry import Registry
from retrain.registry.cached import CachedRegistry


def _settings(registry: Registry, tmp_path: Path) -> Any:
    # the four settings CachedRegistry reads, as the typed settings name them
    return SimpleNamespace(
        model_name=registry.model_name,
        mlflow_tracking_uri=registry.tracking_uri,
        data_dir=tmp_path / "data",
        allow_unverified_models=False,
    )


def test_the_champion_and_its_model_come_from_the_cache_once_fetched(
    registry: Registry, logreg: Any, data: Any, new_version: Any, tmp_path: Path
) -> None:
    # given a champion, asked for once through MLflow
    X, _ = data
    version = new_version(logreg, X, "2025-12-01")
    registry.promote(version, expected_current=None, reason="first")
    _settle(registry.tracking_uri)
    settings = _settings(registry, tmp_path)
    first = CachedRegistry(settings, registry).champion()
    expected = registry.champion()
    assert first == expected  # the same version, URI, run and tags (the training window among them)
    # when another process asks for the champion and loads its pin, the store unchanged
    script = textwrap.dedent(
        f"""
        import sys
        from types import SimpleNamespace
        from pathlib import Path
        from retrain.registry.cached import CachedRegistry
        settings = SimpleNamespace(model_name={registry.model_name!r}, mlflow_tracking_uri={registry.tracking_uri!r},
                                   data_dir=Path({str(settings.data_dir)!r}), allow_unverified_models=False)
        cached = CachedRegistry(settings)
        champion = cached.champion()
        model = cached.load_model(champion.uri)
        print(champion.version, champion.tags["ds"], type(model).__name__, "mlflow" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # then: both answered without importing MLflow
    assert done.stdout.split() == [version, expected.tags["ds"], "LogisticRegression", "False"]


def test_a_promotion_is_seen_at_once(
    registry: Registry, logreg: Any, hgb: Any, data: Any, new_version: Any, tmp_path: Path
) -> None:
    X, _ = data
    first, second = new_version(logreg, X, "2025-12-01"), new_version(hgb, X, "2025-12-08")
    registry.promote(first, expected_current=None, reason="first")
    _settle(registry.tracking_uri)
    cached = CachedRegistry(_settings(registry, tmp_path), registry)
    assert cached.champion().version == first
    # when the champion moves (the store changes) / then the cache answers the new one, never the old
    registry.promote(second, expected_current=first, reason="second")
    assert cached.champion().version == second
    _settle(registry.tracking_uri)
    assert cached.champion().version == second
    assert cached.pin(f"models:/{registry.model_name}@champion").version == second


def test_a_damaged_cached_copy_is_fetched_again(
    registry: Registry, logreg: Any, data: Any, new_version: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, _ = data
    version = new_version(logreg, X, "2025-12-01")
    uri = f"models:/{registry.model_name}/{version}"
    _settle(registry.tracking_uri)
    cached = CachedRegistry(_settings(registry, tmp_path), registry)
    cached.load_model(uri)
    found = cached.cache.get(uri)
    assert found is not None
    with open(found.model_dir / "model.skops", "ab") as handle:
        handle.write(b"\0")
    # when it is loaded / then the copy is refused, dropped, fetched again, and the model is the logged one
    model = cached.load_model(uri)
    np.testing.assert_array_equal(model.predict_proba(X), logreg.predict_proba(X))
    assert "failed its checks" in caplog.text
    assert cached.cache.get(uri).model_dir != found.model_dir
    assert not found.model_dir.exists()  # the damaged copy was deleted, not left behind


def _a_settled_version(
    registry: Registry, model: Any, X: Any, new_version: Any, tmp_path: Path
) -> tuple[CachedRegistry, str]:
    """A version of `model` in a store settled enough to cache, and the cached registry on it."""
    uri = f"models:/{registry.model_name}/{new_version(model, X, '2025-12-01')}"
    _settle(registry.tracking_uri)
    return CachedRegistry(_settings(registry, tmp_path), registry), uri


def test_the_columns_come_from_the_entry_once_a_load_showed_them(
    registry: Registry, logreg: Any, data: Any, new_version: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, _ = data
    cached, uri = _a_settled_version(registry, logreg, X, new_version, tmp_path)
    # the first load of the copy (batch_predict's, say) records the columns the verified model shows
    cached.load_model(uri)
    assert cached.cache.get(uri).columns == tuple(X.columns)
    # when asked again, with loading made impossible / then the entry answers without a load
    monkeypatch.setattr("retrain.registry.cached.load_model_dir", lambda *a, **k: pytest.fail("the model was loaded"))
    assert cached.feature_columns(uri) == list(X.columns)


def test_a_tampered_copy_is_not_vouched_for_by_its_recorded_columns(
    registry: Registry, logreg: Any, data: Any, new_version: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, _ = data
    cached, uri = _a_settled_version(registry, logreg, X, new_version, tmp_path)
    cached.feature_columns(uri)
    damaged = cached.cache.get(uri).model_dir
    with open(damaged / "model.skops", "ab") as handle:
        handle.write(b"\0")
    # when the columns are asked for / then the copy's checksum fails, the model is fetched and loaded again
    assert cached.feature_columns(uri) == list(X.columns)
    assert "failed its checks" in caplog.text
    assert not damaged.exists()


def test_no_champion_is_none(registry: Registry, tmp_path: Path) -> None:
    assert CachedRegistry(_settings(registry, tmp_path), registry).champion() is None


def test_a_store_that_is_not_a_sqlite_file_is_asked_directly(tmp_path: Path) -> None:
    # given a tracking server's URI, and a registry that records what it is asked
    asked: list[str] = []

    class Server:
        def champion(self) -> None:
            asked.append("champion")

        def load_model(self, uri: str) -> str:
            asked.append(uri)
            return "model"

    settings = SimpleNamespace(
        model_name="m", mlflow_tracking_uri="http://127.0.0.1:5000", data_dir=tmp_path, allow_unverified_models=False
    )
    cached = CachedRegistry(settings, Server())  # type: ignore[arg-type]
    # when / then: both questions go to the store, and nothing is copied into the data folder
    assert cached.champion() is None and cached.load_model("models:/m/1") == "model"
    assert asked == ["champion", "models:/m/1"]
    assert not any(tmp_path.rglob("*"))


def test_a_store_written_a_moment_ago_is_asked_and_nothing_is_copied(
    registry: Registry, logreg: Any, data: Any, new_version: Any, tmp_path: Path
) -> None:
    # given a version registered just now (the store's fingerprint cannot be trusted yet)
    X, _ = data
    version = new_version(logreg, X, "2025-12-01")
    cached = CachedRegistry(_settings(registry, tmp_path), registry)
    # when its model is loaded / then it is the logged model, and no copy lands in the cache
    model = cached.load_model(f"models:/{registry.model_name}/{version}")
    np.testing.assert_array_equal(model.predict_proba(X), logreg.predict_proba(X))
    assert not cached.cache.folder.exists() or not any(cached.cache.folder.iterdir())
