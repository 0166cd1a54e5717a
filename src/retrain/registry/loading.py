"""Loading a registered, logged or local model: resolve it with MLflow, download it, then verify it.

The checks themselves (SHA-256, the type allow-list, skops) are in `registry.verified`, which does not
import MLflow; this module finds the bytes and the SHA-256 recorded for them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from retrain.registry.cache import CachedModel, ModelCache
from retrain.registry.refs import (
    SHA_TAG,
    ModelNotFoundError,
    ModelRef,
    parse_model_uri,
    version_uri,
)
from retrain.registry.store import MlflowStore, not_found
from retrain.registry.verified import load_model_dir


class Loading(MlflowStore):
    """Loading a registered, logged or local model after verifying it."""

    def _expected_sha(self, ref_or_uri: ModelRef | str) -> tuple[str, str | None]:
        """The URI to download and the SHA-256 recorded for it (None when there is no record)."""
        if isinstance(ref_or_uri, ModelRef):
            return ref_or_uri.uri, ref_or_uri.tags.get(SHA_TAG)
        uri = str(ref_or_uri)
        parts = parse_model_uri(uri)
        if parts.in_registry:
            version = self._resolve_version(parts)
            return version_uri(version.name, version.version), (version.tags or {}).get(SHA_TAG)
        from mlflow.exceptions import MlflowException

        try:
            if parts.model_id:
                return uri, (self.client.get_logged_model(parts.model_id).tags or {}).get(SHA_TAG)
            if parts.run_id:
                return uri, self.client.get_run(parts.run_id).data.tags.get(SHA_TAG)
        except MlflowException as exc:
            if not_found(exc):
                raise ModelNotFoundError(f"no model at {uri}: the store has no such run or logged model") from None
            raise
        return uri, None

    def load_model(
        self, ref_or_uri: ModelRef | str, *, allow_pickle: bool = False, allow_unverified: bool | None = None
    ) -> Any:
        """Load a scikit-learn model after checking it is the one that was logged and holds only allowed types.

        Args:
            ref_or_uri: A `ModelRef`, or a URI (`models:/name/3`, `models:/name@champion`,
                `runs:/id/model`, `models:/m-…`, a local model folder).
            allow_pickle: Also load pickle/cloudpickle models (arbitrary code on load): only for
                models from a source you trust.
            allow_unverified: Load a model with no recorded SHA-256; default: this registry's
                `allow_unverified` (`RETRAIN_ALLOW_UNVERIFIED_MODELS`).

        Raises:
            TamperedModelError: When the file's SHA-256 differs from the recorded one.
            UnverifiedModelError: When no SHA-256 is recorded and unverified models are not allowed.
            UntrustedModelError: When the file holds a type outside the allow-list (named), or is a
                pickle and `allow_pickle` is False.
            RegistryError: When the URI names no version or alias, or is not a model folder.
        """
        allow = self.allow_unverified if allow_unverified is None else allow_unverified
        with self._fluent():
            uri, expected = self._expected_sha(ref_or_uri)
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = self._download(uri, Path(tmp))
                return load_model_dir(
                    model_dir, uri=uri, expected_sha=expected, allow_unverified=allow, allow_pickle=allow_pickle
                )

    def fetch(self, reference: str, cache: ModelCache) -> CachedModel:
        """Resolve `reference` once and copy its model folder into `cache`, recording it there.

        Only a registry reference (`models:/NAME/3`, `@alias`, `/latest`) is recorded for reuse: its
        resolution is in the store the cache fingerprints (`registry.cache`). A run, a logged model or
        a folder is copied but not recorded, since its bytes can change without the store changing.
        The caller loads the copy with `load_model_dir` (the checks are not cached).

        Raises:
            ModelNotFoundError: When the reference names a model, version, alias or path that does not exist.
        """
        parts = parse_model_uri(reference)
        fingerprint = cache.fingerprint() if parts.in_registry else None  # before resolving: see the cache
        with self._fluent():
            if parts.in_registry:
                found = self._resolve_version(parts)
                tags = dict(found.tags or {})
                pinned, run_id = self._pinned(found), found.run_id or None
                resolved = CachedModel(pinned.uri, pinned.version, tags.get(SHA_TAG), Path(), run_id, tags)
            else:
                uri, sha = self._expected_sha(reference)
                resolved = CachedModel(uri, uri, sha, Path())
            cached = cache.put(reference, fingerprint, resolved, lambda folder: self._download(resolved.uri, folder))
        if parts.in_registry and reference != cached.uri:  # the pin of an alias or `latest` names the same copy
            cache.record(cached.uri, fingerprint, cached)
        return cached
