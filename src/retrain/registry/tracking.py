"""Tracking: the challenger's MLflow run (params, metrics, tags, model, artifacts) and its registration.

`log_challenger` records the SHA-256 of the saved model file as `model_sha256` on the run, the logged
model and (by `register`) the version, so that `load_model` can prove later that it loads those bytes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.sklearn

from retrain.io import sha256_file
from retrain.model.schema import signature_for
from retrain.registry.quiet import Quiet, muted
from retrain.registry.refs import MODEL_ARTIFACT, SHA_TAG
from retrain.registry.store import MlflowStore, param_value, quote
from retrain.registry.verified import model_file, skops_trusted_types

if TYPE_CHECKING:
    from retrain.jobs.retrain_run import Approval
    from retrain.model.gate import GateDecision


def approval_tags(approval: Approval) -> dict[str, str]:
    """The MLflow tags of a person's answer (on the challenger's run, and on the version it approved).

    `approval.outcome` (approved / rejected / timed_out), `approval.by` (absent on a timeout),
    `approval.at` (UTC, ISO 8601), `approval.comment` (absent when empty), and `approved_by` on an approval.
    """
    tags = {
        "approval.outcome": approval.outcome,
        "approval.by": approval.by,
        "approval.at": approval.at,
        "approval.comment": approval.comment[:5000] if approval.comment else None,
        "approved_by": approval.approved_by,
    }
    return {k: v for k, v in tags.items() if v}


class Tracking(MlflowStore):
    """Runs of the model's experiment, and turning a run's model into a registered version."""

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
            UntrustedModelError: When the model holds a type outside the allow-list (`trusted_types`): a
                model retrain would refuse to load is never logged.
        """
        trusted = skops_trusted_types(model)
        example = X_sample.head(5) if hasattr(X_sample, "head") else X_sample[:5]
        run_params = {key: param_value(value) for key, value in params.items()}
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
                    muted("mlflow.utils.environment", "Failed to resolve installed pip version"),
                ):
                    # The output schema holds integer labels; MLflow's hint about missing integers is noise.
                    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
                    info = mlflow.sklearn.log_model(
                        model,
                        name=MODEL_ARTIFACT,
                        input_example=example,
                        signature=signature_for(model, example),  # the real column types, when known
                        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                        skops_trusted_types=trusted or None,
                        # Pinned here: MLflow's own inference of requirements imports and profiles
                        # the model in a subprocess (seconds per run).
                        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
                    )
                with tempfile.TemporaryDirectory() as tmp:
                    saved, _ = model_file(self._download(info.model_uri, Path(tmp)))
                    digest = sha256_file(saved)
                mlflow.set_tags({SHA_TAG: digest, "model_id": info.model_id or ""})
                if info.model_id:
                    self.client.set_logged_model_tags(info.model_id, {SHA_TAG: digest})
                if isinstance(getattr(model, "feature_schema_", None), dict):
                    mlflow.log_dict(model.feature_schema_, "feature_schema.json")
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
        # The interval of the paired bootstrap gate (docs/DESIGN.md, "The gate"), when it was computed.
        interval = {
            "gate_ci_low": decision.ci_low,
            "gate_ci_high": decision.ci_high,
            f"{decision.metric}_ci_low": decision.challenger_ci_low,
            f"{decision.metric}_ci_high": decision.challenger_ci_high,
        }
        for key, bound in interval.items():
            if bound is not None:
                client.log_metric(run_id, key, float(bound))
        tags["gate.method"] = decision.method
        if decision.confidence is not None:
            tags["gate.confidence"] = repr(decision.confidence)
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        client.log_dict(run_id, {**decision.to_dict(), "champion_version": champion_version}, "gate_decision.json")

    def record_approval(self, run_id: str, approval: Approval) -> None:
        """Tag the challenger's run with the person's answer (`approval_tags`) and log `approval.json`."""
        client = self.client
        for key, value in approval_tags(approval).items():
            client.set_tag(run_id, key, value)
        client.log_dict(run_id, approval.to_dict(), "approval.json")

    # -- registry ---------------------------------------------------------------------------------

    def _run_versions(self, run_id: str) -> list[Any]:
        found = self.client.search_model_versions(f"run_id = {quote(run_id)}")
        return sorted((v for v in found if v.name == self.model_name), key=lambda v: int(v.version))

    def register(self, run_id: str, *, ds: str, tags: Mapping[str, Any] | None = None, label: str | None = None) -> str:
        """Register the run's model as a new version, or return the version it already has.

        Idempotent: a rerun of the same task finds the version made from `run_id` and returns it, so
        the registry never holds duplicates. Version tags: `ds`, `model_sha256`, `run_id`, `label`
        (pass `settings.model_label`; else the run's `label` tag, if any), `metric` and `score` (from
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
        with self._lock():
            existing = self._run_versions(run_id)
            if existing:
                return str(existing[0].version)
            with (
                self._fluent(),
                contextlib.redirect_stderr(Quiet()),
                # MLflow 3 stores the model as a logged model, so a runs:/ URI resolves to it: expected.
                muted("mlflow.tracking._model_registry.fluent", "registering model based on models:/"),
            ):
                version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", self.model_name, tags=version_tags)
        return str(version.version)
