"""`retrain predict`'s model cache: reused while the SQLite store is unchanged, never after a change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrain.registry import Registry, TamperedModelError, load_model_dir
from retrain.registry.cache import SETTLE_SECONDS, ModelCache


def _settle(tracking_uri: str) -> None:
    """Age the store's files past `SETTLE_SECONDS`, as if the last write were a while ago."""
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    past = time.time() - 10 * SETTLE_SECONDS
    for path in database.parent.glob(database.name + "*"):
        os.utime(path, (past, past))


@pytest.fixture
def cache(registry: Registry, tmp_path: Path) -> ModelCache:
    return ModelCache(tmp_path / "cache", registry.tracking_uri)


def test_a_resolved_model_is_reused_until_the_registry_changes(
    registry: Registry, cache: ModelCache, logreg: Any, hgb: Any, data: Any, new_version: Any
) -> None:
    # given two registered versions and version 1 as champion
    X, _ = data
    first, second = new_version(logreg, X, "2025-12-01"), new_version(hgb, X, "2025-12-08")
    registry.promote(first, expected_current=None, reason="first")
    champion = f"models:/{registry.model_name}@champion"
    _settle(registry.tracking_uri)
    # when the champion is fetched once / then the same store state answers from the cache
    fetched = registry.fetch(champion, cache)
    assert (fetched.uri, fetched.version) == (f"models:/{registry.model_name}/{first}", first)
    cached = cache.get(champion)
    assert cached == fetched
    model = load_model_dir(cached.model_dir, uri=cached.uri, expected_sha=cached.sha256, allow_unverified=False)
    np.testing.assert_array_equal(model.predict_proba(X), logreg.predict_proba(X))
    # when the champion moves / then the entry is stale, and fetching again finds the new champion
    registry.promote(second, expected_current=first, reason="second")
    _settle(registry.tracking_uri)
    assert cache.get(champion) is None
    moved = registry.fetch(champion, cache)
    assert moved.version == second and cache.get(champion) == moved


def test_a_store_written_a_moment_ago_is_not_cached(
    registry: Registry, cache: ModelCache, logreg: Any, data: Any, new_version: Any
) -> None:
    # given a version registered just now (a second write in the same clock tick could hide)
    version = new_version(logreg, data[0], "2025-12-01")
    reference = f"models:/{registry.model_name}/{version}"
    # when it is fetched / then nothing is reused until the store has settled
    registry.fetch(reference, cache)
    assert cache.fingerprint() is None and cache.get(reference) is None
    _settle(registry.tracking_uri)
    registry.fetch(reference, cache)
    assert cache.get(reference) is not None


def test_the_checks_are_not_cached(registry: Registry, cache: ModelCache, logreg: Any, data: Any, new_version: Any):
    # given a cached model whose copy is edited afterwards
    version = new_version(logreg, data[0], "2025-12-01")
    reference = f"models:/{registry.model_name}/{version}"
    _settle(registry.tracking_uri)
    registry.fetch(reference, cache)
    cached = cache.get(reference)
    assert cached is not None and cached.sha256
    with open(cached.model_dir / "model.skops", "ab") as handle:
        handle.write(b"\0")
    # when it is loaded / then it is refused exactly as an edited artifact is
    with pytest.raises(TamperedModelError, match="SHA-256"):
        load_model_dir(cached.model_dir, uri=cached.uri, expected_sha=cached.sha256, allow_unverified=False)


def test_only_registry_references_of_a_sqlite_store_are_recorded(
    registry: Registry, cache: ModelCache, logreg: Any, data: Any, new_version: Any
) -> None:
    version = new_version(logreg, data[0], "2025-12-01")
    _settle(registry.tracking_uri)
    # a run's artifacts can change without the store changing: copied, never reused
    run = f"runs:/{registry.get(version).run_id}/model"
    assert (registry.fetch(run, cache).model_dir / "MLmodel").is_file()
    assert cache.get(run) is None
    # other stores have no file to fingerprint
    for uri in ("postgresql://127.0.0.1/mlflow", "http://127.0.0.1:5000", "sqlite:///nowhere/mlflow.db"):
        assert ModelCache(cache.folder, uri).fingerprint() is None


def test_a_cache_hit_does_not_import_mlflow(
    registry: Registry, cache: ModelCache, logreg: Any, data: Any, new_version: Any
) -> None:
    # given a cached version
    version = new_version(logreg, data[0], "2025-12-01")
    reference = f"models:/{registry.model_name}/{version}"
    _settle(registry.tracking_uri)
    registry.fetch(reference, cache)
    # when another process looks it up and loads it / then MLflow (~2 s of imports) is never imported
    script = textwrap.dedent(
        f"""
        import sys
        from retrain.registry import load_model_dir
        from retrain.registry.cache import ModelCache
        found = ModelCache({str(cache.folder)!r}, {registry.tracking_uri!r}).get({reference!r})
        model = load_model_dir(found.model_dir, uri=found.uri, expected_sha=found.sha256, allow_unverified=False)
        print(type(model).__name__, found.version, "mlflow" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["LogisticRegression", version, "False"]


def test_an_entry_that_does_not_hold_together_is_a_miss(
    registry: Registry, cache: ModelCache, logreg: Any, data: Any, new_version: Any, tmp_path: Path
) -> None:
    # given a cached version
    version = new_version(logreg, data[0], "2025-12-01")
    reference = f"models:/{registry.model_name}/{version}"
    _settle(registry.tracking_uri)
    fetched = registry.fetch(reference, cache)
    entry_file = next(cache.folder.glob("*.json"))
    entry = json.loads(entry_file.read_text())
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(fetched.model_dir, elsewhere)
    # when the entry names a version its URI does not, or a folder outside the cache / then it is not used
    for edit in ({"version": "7"}, {"uri": f"models:/{registry.model_name}/7"}, {"folder": str(elsewhere)}):
        entry_file.write_text(json.dumps({**entry, **edit}))
        assert cache.get(reference) is None, edit
    entry_file.write_text(json.dumps(entry))
    assert cache.get(reference) == fetched
    # and `forget` drops it
    cache.forget(reference)
    assert cache.get(reference) is None
