"""The registry's read side for the daily jobs: the model cache first, MLflow only when it must answer.

`batch_predict` and `monitor_drift` ask the same two things every day: which version is the champion
(with its tags: the training window), and the verified model of a pinned version. While the SQLite
store is unchanged, the model cache (`registry.cache`) answers both without importing MLflow (about
2 s of every task process that does, and ~80 MB). Other stores (PostgreSQL, a tracking server) are
asked directly, and nothing is copied outside their artifact store. On a miss, the MLflow registry answers and records
what it found for the next task. The checks are never cached: every load verifies the copy (recorded
SHA-256, type allow-list); a cached copy that fails them is dropped and fetched again, once.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.io import sha256_file
from retrain.layout import Layout
from retrain.registry.cache import CachedModel, ModelCache
from retrain.registry.refs import (
    CHAMPION,
    ModelNotFoundError,
    ModelRef,
    PinnedModel,
    RegistryError,
    UnverifiedModelError,
    parse_model_uri,
)
from retrain.registry.verified import load_model_dir, model_file

if TYPE_CHECKING:
    from retrain.registry.service import Registry
    from retrain.settings import Settings

log = logging.getLogger(__name__)


class CachedRegistry:
    """`champion()`, `pin()` and `load_model()` of `Registry`, answered from the model cache when it can.

    Args:
        settings: The typed settings (model name, tracking URI, data folder, unverified-model policy).
        registry: The MLflow registry to ask on a miss; None builds it then (importing MLflow).
    """

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.cache = ModelCache(Layout(settings.data_dir).model_cache(), settings.mlflow_tracking_uri)
        self._registry = registry

    @classmethod
    def from_settings(cls, settings: Settings) -> CachedRegistry:
        """The cached read side of the registry the settings describe."""
        return cls(settings)

    @property
    def registry(self) -> Registry:
        """The MLflow registry behind the cache (built, and MLflow imported, on first use)."""
        if self._registry is None:
            from retrain.registry.service import Registry

            self._registry = Registry.from_settings(self.settings)
        return self._registry

    def champion(self) -> ModelRef | None:
        """The champion version with its tags, or None (no store, model or alias yet); see `Registry.champion`."""
        if self.cache.fingerprint() is None:  # not a SQLite file, or written a moment ago: nothing to record
            return self.registry.champion()
        reference = f"models:/{self.settings.model_name}@{CHAMPION}"
        found = self.cache.get(reference)
        if found is None or found.tags is None:
            if self.registry.champion() is None:
                return None
            try:
                found = self.registry.fetch(reference, self.cache)
            except ModelNotFoundError:  # the alias moved away between the two questions
                return None
            log.info("champion: version %s, asked MLflow (the model cache had no answer)", found.version)
        else:
            log.info("champion: version %s, from the model cache (the store is unchanged)", found.version)
        return ModelRef(found.version, found.uri, found.run_id, dict(found.tags or {}))

    def pin(self, uri: str) -> PinnedModel:
        """`uri` resolved to what it names now (`Registry.pin`); an alias's pin from the cache when it can."""
        parts = parse_model_uri(uri)
        if not parts.in_registry:
            return PinnedModel(uri=uri, version=uri)
        found = self.cache.get(uri)
        if found is not None:
            return PinnedModel(found.uri, found.version)
        return self.registry.pin(uri)

    def load_model(self, uri: str) -> Any:
        """The verified model `uri` names (`Registry.load_model`), from its cached copy when the store is unchanged.

        Raises:
            TamperedModelError, UnverifiedModelError, UntrustedModelError: The model's file fails a
                check (a cached copy is fetched again once first); see `registry.verified`.
            RegistryError: The URI names nothing that exists.
        """
        # a run or a folder: its bytes are not the store's to vouch for; a server's store, or one written a
        # moment ago: nothing would be recorded, so no copy is made (a temporary one, as `Registry` does)
        if not parse_model_uri(uri).in_registry or self.cache.fingerprint() is None:
            return self.registry.load_model(uri)
        found = self.cache.get(uri)
        if found is not None:
            try:
                return self._load(found)
            except (RegistryError, OSError, ValueError) as exc:
                if isinstance(exc, UnverifiedModelError):  # a new copy would fail the same way
                    raise
                log.warning("the cached copy of %s failed its checks (%s); fetching it again", uri, exc)
                self.cache.forget(uri)
        return self._load(self.registry.fetch(uri, self.cache))

    def feature_columns(self, uri: str) -> list[str]:
        """The input columns of the model `uri` names, in its order (`retrain.scoring.feature_columns`).

        The first load of a cached copy records them in its entry; later, while the store is unchanged,
        they come from there, after the copy's SHA-256 is checked against the recorded one, so a job that
        needs only the columns (`monitor_drift`) neither deserialises the model nor imports scikit-learn
        and skops (~1.7 s of a task process).

        Raises:
            TamperedModelError, UnverifiedModelError, UntrustedModelError, RegistryError: As `load_model`.
        """
        found = self.cache.get(uri) if parse_model_uri(uri).in_registry else None
        if found is not None and found.columns is not None and found.sha256 is not None:
            path, _ = model_file(Path(found.model_dir))
            if sha256_file(path) == found.sha256:
                return list(found.columns)
            # else the load below finds the mismatch, drops the copy and fetches the model again
        from retrain.scoring import feature_columns

        return feature_columns(self.load_model(uri))  # a cached copy's load records them

    def _load(self, found: CachedModel) -> Any:
        """Load and check a cached copy; the first load records its columns in the entry (`feature_columns`)."""
        model = load_model_dir(
            Path(found.model_dir),
            uri=found.uri,
            expected_sha=found.sha256,
            allow_unverified=self.settings.allow_unverified_models,
        )
        if found.columns is None:
            from retrain.scoring import feature_columns

            with contextlib.suppress(ValueError):  # a model fitted without column names: nothing to record
                self.cache.record_columns(found.uri, feature_columns(model))
        return model
