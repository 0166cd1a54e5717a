"""`retrain predict`'s model lookup: a cache miss is answered by a child process, never by MLflow in-process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrain.registry import ModelNotFoundError, Registry, load_model_dir
from retrain.registry.lookup import find_model
from retrain.settings import Settings


@pytest.fixture
def champion(settings: Settings, logreg: Any, data: Any) -> Registry:
    """The settings' registry with version 1 (logistic regression) as champion."""
    registry = Registry.from_settings(settings)
    X, _ = data
    run_id = registry.log_challenger(logreg, X, ds="2025-12-01", params={}, metrics={}, tags={}, window=["2025-12-01"])
    registry.register(run_id, ds="2025-12-01")
    registry.promote("1", expected_current=None, reason="test")
    return registry


def test_a_miss_is_looked_up_by_a_child_process(settings: Settings, champion: Registry, logreg: Any, data: Any):
    # when the champion is looked up / then the child's answer is the pinned version, copied locally
    found = find_model(settings, None).result()
    assert (found.uri, found.version) == (f"models:/{settings.model_name}/1", "1")
    assert found.model_dir.is_relative_to(settings.data_dir)
    model = load_model_dir(found.model_dir, uri=found.uri, expected_sha=found.sha256, allow_unverified=False)
    np.testing.assert_array_equal(model.predict_proba(data[0]), logreg.predict_proba(data[0]))


def test_the_scoring_process_never_imports_mlflow(settings: Settings, champion: Registry) -> None:
    # when another process (same environment) finds the champion / then MLflow stays out of it
    script = textwrap.dedent(
        """
        import sys
        from retrain.registry.lookup import find_model
        from retrain.settings import load_settings
        found = find_model(load_settings(), None).result()
        print(found.version, "mlflow" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "False"]


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("models:/retrain-model/9", "registered versions: 1"),
        ("models:/retrain-model@nosuchalias", "aliases: champion → 1"),
    ],
)
def test_a_reference_to_nothing_says_what_exists(settings: Settings, champion: Registry, model: str, fragment: str):
    with pytest.raises(ModelNotFoundError, match=fragment):
        find_model(settings, model).result()


def test_no_champion_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="no champion for 'retrain-model' yet: run the retrain DAG first"):
        find_model(settings, None).result()


def test_a_folder_that_is_not_a_model_is_refused_before_anything_is_copied(settings: Settings, tmp_path: Path):
    # given a folder with a large file in it, and no MLmodel
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "big.bin").write_bytes(b"\0" * 1_000_000)
    # when it is given as the model / then the user's path is named, and nothing was copied into the cache
    with pytest.raises(ModelNotFoundError, match=f"no model at {folder}: it is not an MLflow model folder"):
        find_model(settings, str(folder)).result()
    cache = settings.data_dir / "cache" / "models"
    assert not cache.exists() or not any(cache.iterdir())
