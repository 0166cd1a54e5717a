"""MLflow tracking and model registry behind one small service object.

Everything the system asks of MLflow goes through `Registry`: log a challenger run, record the gate's
decision on it, register a version, read and move the `champion` alias (compare-and-swap, never
overwriting or deleting a version), roll back, list the history, and load a model after checking it
is byte-for-byte the one that was logged. Tasks import this module inside their functions, so the
MLflow import (seconds) is paid only by the tasks that need it.

Notes:
    MLflow's fluent API (`start_run`, `log_model`, `register_model`) reads a process-wide tracking
    URI. Each method sets it to this registry's URI for its duration and restores it afterwards, so
    several stores can be used in one process (as the tests do), but not from several threads at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from retrain.io import sha256_file
from retrain.records.ledger import file_lock

if TYPE_CHECKING:
    from retrain.model.gate import GateDecision
    from retrain.settings import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
MODEL_ARTIFACT = "model"
SHA_TAG = "model_sha256"
HISTORY_TAG = "retrain.champion_history"
TRUSTED_MODULE_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.")
"""Modules whose types we let skops load: the libraries the model is made of, nothing user-defined."""

_HISTORY_KEEP = 200
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


class RegistryError(RuntimeError):
    """A registry operation cannot be done as asked (unknown version, nothing to roll back to, ...)."""


class StaleChampionError(RegistryError):
    """The champion changed since the caller read it; nothing was changed by the refused promotion."""


class TamperedModelError(RegistryError):
    """The model file's SHA-256 differs from the one recorded when it was logged."""


class UntrustedModelError(RegistryError):
    """The model holds types outside the trusted libraries, or uses a pickle format we refuse."""


@dataclass(frozen=True)
class ModelRef:
    """A registered version, as callers need it.

    Attributes:
        version: The registry version, e.g. "3".
        uri: `models:/{name}/{version}`: pinned, so that a later alias move never changes what a
            running job loads.
        run_id: The MLflow run that produced it, when known.
        tags: The version's tags (ds, model_sha256, label, metric, score, promoted_at, ...).
    """

    version: str
    uri: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "model"


def _quote(value: str) -> str:
    """A string literal for MLflow's filter syntax."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise RegistryError(f"name {value!r} contains both quote characters; MLflow filters cannot express it")


def _not_found(exc: MlflowException) -> bool:
    return getattr(exc, "error_code", None) in _NOT_FOUND


def _param_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops must be told to trust to load `model`, refusing any outside trusted libraries.

    skops refuses to load types it does not know (scikit-learn's `TreePredictor` inside a
    HistGradientBoosting model, for example). Trusting every reported type would make the safe
    format as unsafe as pickle, so only types from `TRUSTED_MODULE_PREFIXES` are accepted.

    Raises:
        UntrustedModelError: When the model holds any other type (e.g. a user-defined transformer).
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    refused = sorted(t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES))
    if refused:
        raise UntrustedModelError(
            f"the model holds type(s) outside {', '.join(p.rstrip('.') for p in TRUSTED_MODULE_PREFIXES)}: "
            f"{', '.join(refused)}; retrain saves models with skops and trusts only those libraries"
        )
    return sorted(untrusted)


class Registry:
    """MLflow tracking and registry for one model name.

    Args:
        tracking_uri: MLflow tracking URI (`settings.mlflow_tracking_uri`), e.g. `sqlite:///…/mlflow.db`.
        model_name: Registered model name, also the experiment's name.
        artifact_root: Local folder for the experiment's artifacts (`settings.mlflow_artifact_root`)
            and for the lock that serialises alias moves.
    """

    def __init__(self, tracking_uri: str, model_name: str, artifact_root: Path) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.artifact_root = Path(artifact_root).absolute()
        self.lock_path = self.artifact_root / ".locks" / f"{_safe_name(model_name)}.lock"
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """The registry the settings describe."""
        return cls(settings.mlflow_tracking_uri, settings.model_name, settings.mlflow_artifact_root)

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def store_exists(self) -> bool:
        """False when the store is a SQLite file that was never created; read-only callers then skip it."""
        prefix = "sqlite:///"
        if self.tracking_uri.startswith(prefix):
            return Path(self.tracking_uri[len(prefix) :]).exists()
        return True

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
        location = (self.artifact_root / _safe_name(self.model_name)).as_uri()
        experiment = self.client.get_experiment_by_name(self.model_name)
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

    def find_run(self, tags: Mapping[str, str]) -> str | None:
        """The oldest finished run carrying all these tags, so a rerun can reuse it instead of training twice.

        Only FINISHED runs count: a run whose process was killed while logging stays RUNNING (or is
        marked FAILED) and is never reused.
        """
        if not self.store_exists():
            return None
        clauses = [f"tags.`{key}` = '{value}'" for key, value in tags.items()]
        clauses.append("attributes.status = 'FINISHED'")
        runs = self.client.search_runs(
            [self._experiment()],
            filter_string=" and ".join(clauses),
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    @staticmethod
    def _model_file(model_dir: Path) -> tuple[Path, dict[str, Any]]:
        """The serialized model inside an MLflow model folder, and its sklearn flavor config."""
        import yaml

        mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        flavor = (mlmodel.get("flavors") or {}).get("sklearn")
        if not flavor:
            raise RegistryError(f"{model_dir} is not a scikit-learn MLflow model (no sklearn flavor)")
        return model_dir / flavor["pickled_model"], flavor

    def _download(self, uri: str, dst: Path) -> Path:
        return Path(
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=self.tracking_uri)
        )

    # -- tracking ---------------------------------------------------------------------------------

    def log_challenger(
        self,
        model: Any,
        X_sample: Any,
        *,
        ds: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, Any],
        window: list[str],
        artifacts: Mapping[str, Path] | None = None,
    ) -> str:
        """Log one challenger as a run named `retrain-{ds}` and return its run id.

        The run holds the params (estimator spec and the training window), the holdout metrics, the
        tags, the model (skops format, with a signature inferred from `X_sample` and a 5-row input
        example) and any extra artifacts. The SHA-256 of the saved model file is recorded as the
        run tag and logged-model tag `model_sha256`, so that `load_model` can detect tampering.

        Args:
            model: The fitted classifier.
            X_sample: A few rows of training features (a DataFrame) for the signature and example.
            ds: The logical date of the retrain.
            params: Parameters to log, e.g. `{"estimator": path, **estimator_params}`; non-strings are JSON.
            metrics: Holdout metrics of the challenger.
            tags: Extra run tags (trigger, label, ...).
            window: The training window's days; logged as window_start / window_end / window_days.
            artifacts: Files or folders to attach, by artifact name (e.g. `{"metrics.json": path}`).

        Returns:
            The MLflow run id.

        Raises:
            UntrustedModelError: When the model holds types outside scikit-learn / NumPy / SciPy.
        """
        trusted = skops_trusted_types(model)
        example = X_sample.head(5) if hasattr(X_sample, "head") else X_sample[:5]
        run_params = {key: _param_value(value) for key, value in params.items()}
        days = sorted(window)
        run_params.update(
            window_start=days[0] if days else "", window_end=days[-1] if days else "", window_days=str(len(days))
        )
        with self._fluent():
            experiment_id = self._experiment()
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"retrain-{ds}") as run:
                run_id = run.info.run_id
                mlflow.log_params(run_params)
                if metrics:
                    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
                mlflow.set_tags({**{k: str(v) for k, v in tags.items() if v is not None}, "ds": ds})
                with (
                    warnings.catch_warnings(),
                    # uv-made venvs have no pip; the environment files simply list it unpinned.
                    _muted("mlflow.utils.environment", "Failed to resolve installed pip version"),
                ):
                    # The output schema holds integer labels; MLflow's hint about missing integers is noise.
                    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
                    info = mlflow.sklearn.log_model(
                        model,
                        name=MODEL_ARTIFACT,
                        input_example=example,
                        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                        skops_trusted_types=trusted or None,
                        # Pinned here: MLflow's own inference of requirements imports and profiles
                        # the model in a subprocess (seconds per run).
                        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
                    )
                with tempfile.TemporaryDirectory() as tmp:
                    model_file, _ = self._model_file(self._download(info.model_uri, Path(tmp)))
                    digest = sha256_file(model_file)
                mlflow.set_tags({SHA_TAG: digest, "model_id": info.model_id or ""})
                if info.model_id:
                    self.client.set_logged_model_tags(info.model_id, {SHA_TAG: digest})
                for name, path in (artifacts or {}).items():
                    self._log_artifact(run_id, name, Path(path))
        return run_id

    def _log_artifact(self, run_id: str, name: str, path: Path) -> None:
        """Attach `path` to the run as `name` (a relative artifact path; folders keep their content)."""
        if path.is_dir():
            self.client.log_artifacts(run_id, str(path), artifact_path=name)
            return
        folder, _, filename = name.rpartition("/")
        if filename == path.name:
            self.client.log_artifact(run_id, str(path), artifact_path=folder or None)
            return
        with tempfile.TemporaryDirectory() as tmp:
            renamed = Path(tmp) / filename
            shutil.copyfile(path, renamed)
            self.client.log_artifact(run_id, str(renamed), artifact_path=folder or None)

    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        """Attach a file (the retrain report, say) to a run, under the relative artifact path `name`."""
        self._log_artifact(run_id, name, Path(path))

    def record_decision(self, run_id: str, decision: GateDecision, champion_version: str | None) -> None:
        """Attach the gate's decision to the challenger's run: metric, tags and `gate_decision.json`.

        Args:
            run_id: The challenger's run.
            decision: The gate decision.
            champion_version: The champion it was compared with, or None.
        """
        client = self.client
        if decision.champion_score is not None:
            client.log_metric(run_id, f"champion_{decision.metric}", float(decision.champion_score))
        tags = {
            "gate.decision": decision.decision,
            "gate.metric": decision.metric,
            "gate.score": repr(float(decision.challenger_score)),
            "gate.threshold": repr(decision.threshold),
            "gate.min_improvement": repr(decision.min_improvement),
            "gate.champion_version": champion_version or "",
            "gate.reasons": "; ".join(decision.reasons)[:7000],
        }
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        client.log_dict(run_id, {**decision.to_dict(), "champion_version": champion_version}, "gate_decision.json")

    # -- registry ---------------------------------------------------------------------------------

    def _run_versions(self, run_id: str) -> list[Any]:
        found = self.client.search_model_versions(f"run_id = {_quote(run_id)}")
        return sorted((v for v in found if v.name == self.model_name), key=lambda v: int(v.version))

    def register(self, run_id: str, *, ds: str, tags: Mapping[str, Any] | None = None, label: str | None = None) -> str:
        """Register the run's model as a new version, or return the version it already has.

        Idempotent: a rerun of the same task finds the version made from `run_id` and returns it, so
        the registry never holds duplicates. Version tags: `ds`, `model_sha256`, `run_id`, `label`
        (pass `settings.model_version`; else the run's `label` tag, if any), `metric` and `score` (from
        the recorded decision), `window_start` / `window_end` / `window_days` (from the run's params),
        plus `tags`.

        Returns:
            The version, e.g. "1".
        """
        run = self.client.get_run(run_id)
        version_tags = {
            "ds": ds,
            "run_id": run_id,
            SHA_TAG: run.data.tags.get(SHA_TAG),
            "label": label if label is not None else run.data.tags.get("label"),
            "metric": run.data.tags.get("gate.metric"),
            "score": run.data.tags.get("gate.score"),
            # The training window travels with the version: drift monitoring compares against it.
            **{k: run.data.params.get(k) for k in ("window_start", "window_end", "window_days")},
            **dict(tags or {}),
        }
        version_tags = {k: str(v) for k, v in version_tags.items() if v is not None and v != ""}
        with file_lock(self.lock_path):
            existing = self._run_versions(run_id)
            if existing:
                return str(existing[0].version)
            with (
                self._fluent(),
                contextlib.redirect_stderr(_Quiet()),
                # MLflow 3 stores the model as a logged model, so a runs:/ URI resolves to it: expected.
                _muted("mlflow.tracking._model_registry.fluent", "registering model based on models:/"),
            ):
                version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", self.model_name, tags=version_tags)
        return str(version.version)

    def _ref(self, version: Any) -> ModelRef:
        return ModelRef(
            version=str(version.version),
            uri=f"models:/{self.model_name}/{version.version}",
            run_id=version.run_id or None,
            tags=dict(version.tags or {}),
        )

    def get(self, version: str) -> ModelRef:
        """One registered version.

        Raises:
            RegistryError: When the version does not exist.
        """
        try:
            return self._ref(self.client.get_model_version(self.model_name, str(version)))
        except MlflowException as exc:
            if _not_found(exc):
                raise RegistryError(f"model {self.model_name!r} has no version {version!r}") from None
            raise

    def champion(self) -> ModelRef | None:
        """The version the `champion` alias points at, or None (no store, model or alias yet)."""
        if not self.store_exists():
            return None
        try:
            version = self.client.get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException as exc:
            message = str(exc).lower()
            if _not_found(exc) or ("alias" in message and "not found" in message):
                return None
            raise
        return self._ref(version)

    def _history(self) -> list[str]:
        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if _not_found(exc):
                return []
            raise
        try:
            history = json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))
        except ValueError:
            return []
        return [str(v) for v in history] if isinstance(history, list) else []

    def _set_history(self, history: list[str]) -> None:
        self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))

    def _move(self, version: str, current: ModelRef | None, reason: str, history: list[str]) -> None:
        """Point the alias at `version` and tag both ends; the caller holds the lock."""
        client = self.client
        now = _now()
        client.set_registered_model_alias(self.model_name, CHAMPION, version)
        client.set_model_version_tag(self.model_name, version, "promoted_at", now)
        client.set_model_version_tag(self.model_name, version, "promoted_from", current.version if current else "")
        client.set_model_version_tag(self.model_name, version, "promote_reason", reason[:5000])
        if current is not None:
            client.set_model_version_tag(self.model_name, current.version, "retired_by", version)
            client.set_model_version_tag(self.model_name, current.version, "retired_at", now)
        self._set_history(history)

    def promote(self, version: str, *, expected_current: str | None, reason: str) -> str | None:
        """Make `version` the champion if the champion is still `expected_current` (compare-and-swap).

        The previous champion is kept and tagged (`retired_by`, `retired_at`); the new one is tagged
        (`promoted_at`, `promoted_from`, `promote_reason`). Nothing is deleted. Promoting the version
        that is already champion changes nothing and returns its recorded predecessor, so a rerun of
        a deploy task that already succeeded is harmless.

        MLflow alias moves are last-writer-wins. The read-check-set runs under an exclusive file lock
        in `artifact_root`, which serialises processes on this host (or sharing this folder on a
        filesystem with working `flock`); writers on other hosts against a shared MLflow server are
        not serialised by it.

        Args:
            version: The version to promote.
            expected_current: The champion version the caller based its decision on (None: no champion).
            reason: Why, recorded on the version.

        Returns:
            The previous champion's version, or None.

        Raises:
            StaleChampionError: When the champion is no longer `expected_current`; nothing changed.
            RegistryError: When `version` does not exist.
        """
        version = str(version)
        expected = None if expected_current is None else str(expected_current)
        with file_lock(self.lock_path):
            target = self.get(version)
            current = self.champion()
            if current is not None and current.version == version:
                if "promoted_at" not in target.tags:
                    # A move cut short after the alias (a crash): finish its tags and history now.
                    previous = self.get(expected) if expected is not None and expected != version else None
                    history = self._history()
                    if previous is not None and (not history or history[-1] != previous.version):
                        history.append(previous.version)
                    if not history or history[-1] != version:
                        history.append(version)
                    self._move(version, previous, reason, history)
                    return previous.version if previous else None
                return target.tags.get("promoted_from") or None
            actual = current.version if current else None
            if actual != expected:
                raise StaleChampionError(
                    f"champion of {self.model_name!r} is {actual or 'unset'}, not {expected or 'unset'} as expected: "
                    f"it changed since the decision was made; version {version} was not promoted"
                )
            history = self._history()
            if actual is not None and (not history or history[-1] != actual):
                history.append(actual)
            history.append(version)
            self._move(version, current, reason, history)
            return actual

    def previous_champion(self) -> str | None:
        """The version a rollback would restore: the champion before the current one, or None."""
        current = self.champion()
        if current is None:
            return None
        history = self._history()
        if history and history[-1] == current.version:
            return history[-2] if len(history) >= 2 else None
        # The alias was moved outside retrain (e.g. in the MLflow UI): fall back to the version's own record.
        return current.tags.get("promoted_from") or None

    def rollback(self, to: str | None = None, reason: str = "manual rollback") -> tuple[str, str]:
        """Move the champion back to `to`, or to the previous champion when `to` is None.

        Rollbacks walk back through the champion history (rolling back twice from 3 after 1→2→3
        lands on 1, not back on 3). The version rolled back from is kept and tagged.

        Returns:
            (from_version, to_version).

        Raises:
            RegistryError: When there is no champion, nothing to roll back to, or `to` does not exist.
        """
        with file_lock(self.lock_path):
            current = self.champion()
            if current is None:
                raise RegistryError(f"model {self.model_name!r} has no champion to roll back from")
            target = str(to) if to is not None else self.previous_champion()
            if target is None:
                raise RegistryError(f"champion {current.version} of {self.model_name!r} has no previous champion")
            self.get(target)
            if target == current.version:
                raise RegistryError(f"version {target} is already the champion")
            history = self._history()
            if target in history:
                history = history[: len(history) - history[::-1].index(target)]
            else:
                history.append(target)
            self._move(target, current, f"rollback: {reason}", history)
            self.client.set_model_version_tag(self.model_name, current.version, "rolled_back_at", _now())
            return current.version, target

    def versions(self) -> list[dict[str, Any]]:
        """Every version of the model, oldest first: version, uri, run_id, aliases, created_at, tags."""
        if not self.store_exists():
            return []
        found = self.client.search_model_versions(f"name = {_quote(self.model_name)}")
        aliases: dict[str, list[str]] = {}
        if found:  # search results do not carry aliases; the registered model does
            for alias, number in (self.client.get_registered_model(self.model_name).aliases or {}).items():
                aliases.setdefault(str(number), []).append(alias)
        rows = []
        for v in sorted(found, key=lambda v: int(v.version)):
            created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(timespec="seconds")
            rows.append(
                {
                    "version": str(v.version),
                    "uri": f"models:/{self.model_name}/{v.version}",
                    "run_id": v.run_id or None,
                    "aliases": sorted(aliases.get(str(v.version), [])),
                    "created_at": created,
                    "tags": dict(v.tags or {}),
                }
            )
        return rows

    # -- loading ----------------------------------------------------------------------------------

    def _expected_sha(self, ref_or_uri: ModelRef | str) -> tuple[str, str | None]:
        """The URI to download and the SHA-256 recorded for it (None when there is no record)."""
        if isinstance(ref_or_uri, ModelRef):
            return ref_or_uri.uri, ref_or_uri.tags.get(SHA_TAG)
        uri = str(ref_or_uri)
        if uri.startswith("models:/"):
            body = uri[len("models:/") :]
            if "@" in body:
                name, _, alias = body.rpartition("@")
                version = self.client.get_model_version_by_alias(name, alias)
                return f"models:/{name}/{version.version}", (version.tags or {}).get(SHA_TAG)
            name, _, number = body.rpartition("/")
            if name and number.isdigit():
                version = self.client.get_model_version(name, number)
                return uri, (version.tags or {}).get(SHA_TAG)
            if body.startswith("m-") and "/" not in body:
                return uri, (self.client.get_logged_model(body).tags or {}).get(SHA_TAG)
        if uri.startswith("runs:/"):
            run_id = uri[len("runs:/") :].split("/", 1)[0]
            return uri, self.client.get_run(run_id).data.tags.get(SHA_TAG)
        return uri, None

    def load_model(self, ref_or_uri: ModelRef | str, *, allow_pickle: bool = False) -> Any:
        """Load a scikit-learn model after checking it is the one that was logged.

        The model folder is copied to a temporary folder, its model file's SHA-256 is compared with
        the recorded `model_sha256` (when one is recorded), the skops trusted-types list in its
        MLmodel is checked against `TRUSTED_MODULE_PREFIXES` (MLflow itself reads that list from the
        model, so a crafted model could otherwise trust anything), and then exactly those verified
        bytes are loaded.

        Args:
            ref_or_uri: A `ModelRef`, or a URI (`models:/name/3`, `models:/name@champion`,
                `runs:/id/model`, a local path).
            allow_pickle: Also load pickle/cloudpickle models (arbitrary code on load): only for
                models from a source you trust.

        Raises:
            TamperedModelError: When the file's SHA-256 differs from the recorded one.
            UntrustedModelError: When the model trusts types outside the trusted libraries, or is a
                pickle and `allow_pickle` is False.
        """
        with self._fluent():
            uri, expected = self._expected_sha(ref_or_uri)
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = self._download(uri, Path(tmp))
                model_file, flavor = self._model_file(model_dir)
                if expected is not None:
                    actual = sha256_file(model_file)
                    if actual != expected:
                        raise TamperedModelError(
                            f"model file {model_file.name} of {uri} has SHA-256 {actual[:16]}…, but "
                            f"{expected[:16]}… was recorded when it was logged: the artifact was modified; "
                            "refusing to load it"
                        )
                else:
                    log.warning("no model_sha256 recorded for %s: loading it without an integrity check", uri)
                fmt = flavor.get("serialization_format", "pickle")
                if fmt != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS and not allow_pickle:
                    raise UntrustedModelError(
                        f"{uri} is saved as {fmt}, which runs arbitrary code on load; "
                        "retrain loads skops models only (pass allow_pickle=True for a source you trust)"
                    )
                trusted = flavor.get("skops_trusted_types") or []
                refused = [t for t in trusted if not str(t).startswith(TRUSTED_MODULE_PREFIXES)]
                if refused:
                    raise UntrustedModelError(f"{uri} asks to trust type(s) outside the trusted libraries: {refused}")
                return mlflow.sklearn.load_model(str(model_dir))


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


@contextlib.contextmanager
def _muted(logger_name: str, fragment: str) -> Iterator[None]:
    """Drop one expected, alarming-looking MLflow log message for the block (everything else passes)."""
    logger = logging.getLogger(logger_name)
    drop = _DropMessage(fragment)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class _Quiet:
    """A stderr sink for MLflow's `eprint` chatter during registration (our caller logs the result)."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("mlflow: %s", text.strip())
        return len(text)

    def flush(self) -> None:
        return None
