"""The MLflow store one `Registry` talks to: client, tracking URI, experiment, downloads, the lock.

Notes:
    MLflow's fluent API (`start_run`, `log_model`, `register_model`) reads a process-wide tracking
    URI. `_fluent` sets it to this store's URI for a block and restores it afterwards, so several
    stores can be used in one process (as the tests do), but not from several threads at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from retrain.registry.locks import promotion_lock
from retrain.registry.refs import CHAMPION, ModelNotFoundError, ModelUri, PinnedModel, RegistryError, version_uri

_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (the format of every timestamp tag)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def safe_name(name: str) -> str:
    """`name` usable as a file or folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "model"


def quote(value: str) -> str:
    """A string literal for MLflow's filter syntax."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise RegistryError(f"name {value!r} contains both quote characters; MLflow filters cannot express it")


def not_found(exc: MlflowException) -> bool:
    """Whether MLflow's error says the thing asked for does not exist."""
    return getattr(exc, "error_code", None) in _NOT_FOUND


def param_value(value: Any) -> str:
    """A run parameter as MLflow stores it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _check_not_moved(stored: str, expected: str) -> None:
    """Refuse to write into another home: a store whose experiment keeps its artifacts in an
    `mlartifacts/` folder other than ours was moved or copied with its home and not rebased yet."""
    if stored == expected or not stored.startswith("file:"):
        return
    stored_root, expected_root = stored.rstrip("/").rpartition("/")[0], expected.rpartition("/")[0]
    if stored_root.endswith("/mlartifacts") and stored_root != expected_root:
        raise RegistryError(
            f"the MLflow store keeps its artifacts under {stored_root}, not under {expected_root}: its "
            "RETRAIN_HOME was moved or copied. Run any `retrain` command there once (e.g. `retrain status`): it "
            "rebases the store onto the home's new place"
        )


class MlflowStore:
    """The connection to one MLflow store, for one registered model name.

    Args:
        tracking_uri: MLflow tracking URI (`settings.mlflow_tracking_uri`), e.g. `sqlite:///…/mlflow.db`,
            `postgresql://…` or `http://mlflow:5000`.
        model_name: Registered model name, also the experiment's name.
        artifact_root: Local folder for the experiment's artifacts (`settings.mlflow_artifact_root`)
            and for the file lock.
        lock_url: A PostgreSQL URL whose advisory lock serialises alias moves across hosts
            (`RETRAIN_LOCK_URL`); default: the tracking URI when it is PostgreSQL, else a file lock
            in `artifact_root` (one host). See `registry.locks`.
        allow_unverified: Default of `load_model(allow_unverified=...)`
            (`RETRAIN_ALLOW_UNVERIFIED_MODELS`).
    """

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        artifact_root: Path,
        *,
        lock_url: str | None = None,
        allow_unverified: bool = False,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.artifact_root = Path(artifact_root).absolute()
        self.lock_path = self.artifact_root / ".locks" / f"{safe_name(model_name)}.lock"
        self.lock_url = lock_url
        self.allow_unverified = allow_unverified
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @property
    def client(self) -> MlflowClient:
        """The MLflow client of this store (created on first use)."""
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def store_exists(self) -> bool:
        """False when the store is a SQLite file that was never created; read-only callers then skip it."""
        prefix = "sqlite:///"
        if self.tracking_uri.startswith(prefix):
            return Path(self.tracking_uri[len(prefix) :]).exists()
        return True

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        """The lock that serialises registrations and alias moves of this model (see `registry.locks`)."""
        return promotion_lock(self.model_name, self.lock_path, self.lock_url, self.tracking_uri)

    @contextlib.contextmanager
    def _fluent(self) -> Iterator[None]:
        """Point MLflow's process-wide tracking URI at this store for the block, then restore it."""
        previous_env = os.environ.get("MLFLOW_TRACKING_URI")
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)
            if previous_env is not None:
                os.environ["MLFLOW_TRACKING_URI"] = previous_env

    def _experiment(self) -> str:
        """The experiment named after the model, created with its artifacts under `artifact_root`."""
        if self._experiment_id is not None:
            return self._experiment_id
        # A tracking server places the artifacts itself (`--serve-artifacts`: `mlflow-artifacts:` URIs,
        # uploaded over HTTP), so no worker needs a folder shared with it; a local store uses ours.
        served = self.tracking_uri.startswith(("http://", "https://"))
        location = None if served else (self.artifact_root / safe_name(self.model_name)).as_uri()
        experiment = self.client.get_experiment_by_name(self.model_name)
        if experiment is not None and location is not None:
            _check_not_moved(experiment.artifact_location, location)
        if experiment is None:
            try:
                experiment_id = self.client.create_experiment(self.model_name, artifact_location=location)
            except MlflowException:  # created concurrently by another task: use theirs
                experiment = self.client.get_experiment_by_name(self.model_name)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment_id)
        self._experiment_id = experiment_id
        return experiment_id

    def _download(self, uri: str, dst: Path) -> Path:
        """Copy the artifact folder `uri` names into `dst`; its local path.

        Raises:
            ModelNotFoundError: `uri` is a local path (or `file:` URI) that does not exist.
        """
        scheme = urlparse(uri).scheme
        local = Path(urlparse(uri).path if scheme else uri) if scheme in ("", "file") else None
        if local is not None and not (local / "MLmodel").is_file():  # checked before anything is copied
            what = "the path does not exist" if not local.exists() else "it is not an MLflow model folder (no MLmodel)"
            raise ModelNotFoundError(
                f"no model at {uri}: {what}; pass a model folder (the one holding MLmodel), "
                f"models:/{self.model_name}/VERSION or models:/{self.model_name}@champion"
            )
        return Path(
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=self.tracking_uri)
        )

    def _what_exists(self, name: str) -> str:
        """What a user could name instead: the registered versions and aliases of `name`, or that it has none."""
        try:
            model = self.client.get_registered_model(name)
        except MlflowException as exc:
            if not not_found(exc):
                raise
            ours = f"; this project's model is {self.model_name!r}" if name != self.model_name else ""
            return f"no registered model {name!r}{ours}"
        numbers = sorted(int(v.version) for v in self.client.search_model_versions(f"name = {quote(name)}"))
        versions = f"registered versions: {', '.join(map(str, numbers))}" if numbers else "no version registered yet"
        aliases = ", ".join(f"{alias} → {number}" for alias, number in sorted((model.aliases or {}).items()))
        return f"{versions}; aliases: {aliases or 'none'}"

    def _resolve_version(self, parts: ModelUri) -> Any:
        """The MLflow ModelVersion a `models:/NAME/...` URI names NOW (an alias or `latest` resolved).

        Raises:
            ModelNotFoundError: When the model, version or alias does not exist; the message says what does.
        """
        name = str(parts.name)
        try:
            if parts.alias is not None:
                return self.client.get_model_version_by_alias(name, parts.alias)
            if parts.version == "latest":
                found = self.client.search_model_versions(f"name = {quote(name)}")
                if not found:
                    raise ModelNotFoundError(f"model {name!r} has no versions yet ({parts.uri})")
                return max(found, key=lambda v: int(v.version))
            return self.client.get_model_version(name, str(parts.version))
        except MlflowException as exc:
            message = str(exc).lower()
            if not_found(exc) or "not found" in message:
                what = f"alias {parts.alias!r}" if parts.alias else f"version {parts.version!r}"
                hint = "; no champion yet: run the retrain DAG first" if parts.alias == CHAMPION else ""
                raise ModelNotFoundError(
                    f"model {name!r} has no {what} ({parts.uri}): {self._what_exists(name)}{hint}"
                ) from None
            raise

    def _pinned(self, found: Any) -> PinnedModel:
        """The MLflow ModelVersion `found` as a pinned URI and the `model_version` predictions write."""
        pinned = version_uri(found.name, found.version)
        return PinnedModel(uri=pinned, version=str(found.version) if found.name == self.model_name else pinned)
