"""Which lock serialises promotions: an advisory lock on PostgreSQL, else a file lock.

The advisory lock itself is proven across processes against a real PostgreSQL in
`tests/services/test_promotion_lock.py`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from retrain.registry import RegistryError, locks
from retrain.settings import SettingsError, load_settings


def test_lock_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[tuple[str, int]] = []
    monkeypatch.setattr(locks, "advisory_lock", lambda url, key: chosen.append((url, key)) or contextlib.nullcontext())
    path = tmp_path / "m.lock"
    # a SQLite or file store: the file lock
    lock = locks.promotion_lock("m", path, None, "sqlite:///x.db")
    with lock:
        assert path.exists()
    assert chosen == []
    # a PostgreSQL backend store: its advisory lock, keyed by the model name
    locks.promotion_lock("m", path, None, "postgresql://u@db/mlflow")
    # an MLflow server with RETRAIN_LOCK_URL: the advisory lock in that database
    locks.promotion_lock("m", path, "postgresql+psycopg2://u@db/locks", "http://mlflow:5000")
    assert chosen == [
        ("postgresql://u@db/mlflow", locks.lock_key("m")),
        ("postgresql+psycopg2://u@db/locks", locks.lock_key("m")),
    ]
    # a lock URL that is not PostgreSQL is refused
    with pytest.raises(RegistryError, match="RETRAIN_LOCK_URL must be a PostgreSQL URL"):
        locks.promotion_lock("m", path, "sqlite:///x.db", "http://mlflow:5000")


def test_lock_key_is_stable_and_per_model() -> None:
    assert locks.lock_key("m") == locks.lock_key("m")
    assert locks.lock_key("m") != locks.lock_key("n")
    assert -(2**63) <= locks.lock_key("m") < 2**63


def test_lock_url_setting(retrain_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().lock_url is None
    monkeypatch.setenv("RETRAIN_LOCK_URL", "postgresql://retrain:s3cret@db:5432/mlflow")
    settings = load_settings()
    assert settings.lock_url == "postgresql://retrain:s3cret@db:5432/mlflow"
    assert "s3cret" not in str(settings.public_dict())
    monkeypatch.setenv("RETRAIN_LOCK_URL", "mysql://retrain:s3cret@db/mlflow")
    with pytest.raises(SettingsError, match="RETRAIN_LOCK_URL.*PostgreSQL URL") as info:
        load_settings()
    assert "s3cret" not in str(info.value)


def test_allow_unverified_setting(retrain_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().allow_unverified_models is False
    monkeypatch.setenv("RETRAIN_ALLOW_UNVERIFIED_MODELS", "true")
    assert load_settings().allow_unverified_models is True
