"""The one typed settings object, read from the environment.

Every knob of the system lives here so that a reader finds it in one place and a wrong value fails
at start, naming the variable and what it accepts, instead of deep inside a task.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrain.urls import AIRFLOW_CONN_PREFIX, POSTGRES_URL_SCHEMES, check_database_url, source_kind

Metric = Literal["roc_auc", "accuracy", "f1", "precision", "recall", "balanced_accuracy", "average_precision"]
IsolationMode = Literal["inprocess", "virtualenv", "docker"]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class SettingsError(ValueError):
    """A setting in the environment is wrong; the message names it and says what it accepts."""


def _env(name: str, *aliases: str) -> Any:
    return AliasChoices(name, *aliases)


class Settings(BaseSettings):
    """Configuration of retrain, from `RETRAIN_*` environment variables (and a few seed names)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *_, **__):  # type: ignore[no-untyped-def]
        """Only `load_settings` feeds values in: one reader of the environment, checked as a whole."""
        return (init_settings,)

    home: Path = Field(Path(".retrain"), validation_alias=_env("RETRAIN_HOME"))
    data_dir_override: Path | None = Field(None, validation_alias=_env("RETRAIN_DATA_DIR"))
    source: str | None = Field(None, validation_alias=_env("RETRAIN_SOURCE"))
    """Where the user's days come from (see `source_kind`): a folder, a database URL, `airflow://CONN_ID`,
    or an object-storage URL (`s3://bucket/days`, `file:///...`); None for the synthetic stream."""
    source_query: str | None = Field(None, validation_alias=_env("RETRAIN_SOURCE_QUERY"))
    label_column: str = Field("target", min_length=1, validation_alias=_env("RETRAIN_LABEL_COLUMN"))
    predictions_url: str | None = Field(None, validation_alias=_env("RETRAIN_PREDICTIONS_URL"))
    predictions_table: str = Field("predictions", validation_alias=_env("RETRAIN_PREDICTIONS_TABLE"))

    model_name: str = Field("retrain-model", min_length=1, validation_alias=_env("RETRAIN_MODEL_NAME"))
    estimator: str = Field(
        "sklearn.ensemble.HistGradientBoostingClassifier", validation_alias=_env("RETRAIN_ESTIMATOR")
    )
    estimator_params: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,  # the estimator's own defaults: params of one estimator break another
        validation_alias=_env("RETRAIN_ESTIMATOR_PARAMS"),
    )
    metric: Metric = Field("roc_auc", validation_alias=_env("RETRAIN_METRIC"))
    metric_threshold: float = Field(
        0.8, ge=0.0, le=1.0, validation_alias=_env("RETRAIN_METRIC_THRESHOLD", "METRIC_THRESHOLD")
    )
    min_improvement: float = Field(0.0, ge=0.0, le=1.0, validation_alias=_env("RETRAIN_MIN_IMPROVEMENT"))
    gate_method: Literal["bootstrap", "point"] = Field("bootstrap", validation_alias=_env("RETRAIN_GATE_METHOD"))
    gate_confidence: float = Field(0.95, ge=0.5, lt=1.0, validation_alias=_env("RETRAIN_GATE_CONFIDENCE"))
    gate_resamples: int = Field(1000, ge=100, le=100_000, validation_alias=_env("RETRAIN_GATE_RESAMPLES"))
    # 50 rows / 10 of the rarest class: below that one row moves recall or ROC AUC by >= 0.1 and the
    # percentile bootstrap is too coarse to trust (Efron & Tibshirani 1993, ch. 13; the common
    # "10 events per class" rule of thumb, Peduzzi et al. 1996).
    gate_min_rows: int = Field(50, ge=1, validation_alias=_env("RETRAIN_GATE_MIN_ROWS"))
    gate_min_class_rows: int = Field(10, ge=1, validation_alias=_env("RETRAIN_GATE_MIN_CLASS_ROWS"))
    approval: Literal["none", "required"] = Field("none", validation_alias=_env("RETRAIN_APPROVAL"))
    """`required`: a person approves each deploy the gate accepts, in Airflow (human-in-the-loop)."""
    approval_timeout: int = Field(24 * 3600, ge=1, le=30 * 24 * 3600, validation_alias=_env("RETRAIN_APPROVAL_TIMEOUT"))
    """Seconds an approval request waits for an answer; with none by then, the deploy is skipped."""
    approvers: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias=_env("RETRAIN_APPROVERS"))
    """Airflow user ids who may answer (comma separated); empty: any user allowed to edit the DAG."""
    airflow_url: str | None = Field(None, validation_alias=_env("RETRAIN_AIRFLOW_URL"))
    """The Airflow UI's address in messages; unset: Airflow's `[api] base_url`, else `retrain up`'s."""
    slice_columns: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("RETRAIN_SLICE_COLUMNS")
    )
    model_label: str | None = Field(None, validation_alias=_env("RETRAIN_MODEL_VERSION", "MODEL_VERSION"))
    """A free-text label for the deployed model (a release name), not the registry version."""

    window_days: int = Field(14, ge=1, le=3650, validation_alias=_env("RETRAIN_WINDOW_DAYS"))
    holdout_days: int = Field(7, ge=1, le=365, validation_alias=_env("RETRAIN_HOLDOUT_DAYS"))
    holdout_fraction: float = Field(0.5, gt=0.0, lt=1.0, validation_alias=_env("RETRAIN_HOLDOUT_FRACTION"))
    seed: int = Field(42, ge=0, validation_alias=_env("RETRAIN_SEED"))

    rows_per_day: int = Field(2000, ge=10, le=50_000_000, validation_alias=_env("RETRAIN_ROWS_PER_DAY"))
    n_features: int = Field(10, ge=2, le=1000, validation_alias=_env("RETRAIN_N_FEATURES"))
    drift_start: date | None = Field(date(2025, 12, 15), validation_alias=_env("RETRAIN_DRIFT_START"))
    drift_strength: float = Field(1.0, ge=0.0, le=10.0, validation_alias=_env("RETRAIN_DRIFT_STRENGTH"))
    label_delay_days: int = Field(0, ge=0, le=365, validation_alias=_env("RETRAIN_LABEL_DELAY_DAYS"))
    """Days after its features that a synthetic day's labels land (0: together, as before)."""
    synthetic_mixed_types: bool = Field(False, validation_alias=_env("RETRAIN_SYNTHETIC_MIXED_TYPES"))
    """The synthetic stream adds a text column with gaps (`segment`), a boolean with gaps (`active`) and an
    integer (`visits`) to its float features, as a real export holds them (`retrain.data.generate`)."""

    drift_method: Literal["calibrated", "fixed"] = Field("calibrated", validation_alias=_env("RETRAIN_DRIFT_METHOD"))
    # 0.1: "< 0.1 no significant change" in the PSI's industry rule of thumb (Siddiqi, Credit Risk
    # Scorecards, Wiley 2006); the calibrated rule also asks the PSI to be beyond its null (below).
    drift_psi_floor: float = Field(0.1, ge=0, le=10, validation_alias=_env("RETRAIN_DRIFT_PSI_FLOOR"))
    drift_confidence: float = Field(0.99, ge=0.5, lt=1.0, validation_alias=_env("RETRAIN_DRIFT_CONFIDENCE"))
    drift_null_resamples: int = Field(
        5000, ge=1000, le=1_000_000, validation_alias=_env("RETRAIN_DRIFT_NULL_RESAMPLES")
    )
    drift_psi_threshold: float = Field(0.2, gt=0, le=10, validation_alias=_env("RETRAIN_DRIFT_PSI_THRESHOLD"))
    drift_ks_threshold: float = Field(0.1, gt=0, le=1, validation_alias=_env("RETRAIN_DRIFT_KS_THRESHOLD"))
    drift_min_share: float = Field(0.2, gt=0, le=1, validation_alias=_env("RETRAIN_DRIFT_MIN_SHARE"))
    drift_consecutive_days: int = Field(2, ge=1, le=60, validation_alias=_env("RETRAIN_DRIFT_CONSECUTIVE_DAYS"))
    drift_cooldown_days: int = Field(7, ge=0, le=365, validation_alias=_env("RETRAIN_DRIFT_COOLDOWN_DAYS"))
    performance_consecutive_days: int = Field(
        2, ge=1, le=60, validation_alias=_env("RETRAIN_PERFORMANCE_CONSECUTIVE_DAYS")
    )
    """Labelled days in a row whose realised metric is below RETRAIN_METRIC_THRESHOLD before a retrain."""
    performance_cooldown_days: int = Field(7, ge=0, le=365, validation_alias=_env("RETRAIN_PERFORMANCE_COOLDOWN_DAYS"))

    isolation_train: IsolationMode = Field("inprocess", validation_alias=_env("RETRAIN_ISOLATION_TRAIN"))
    isolation_score: IsolationMode = Field("inprocess", validation_alias=_env("RETRAIN_ISOLATION_SCORE"))
    task_image: str = Field("retrain:latest", validation_alias=_env("RETRAIN_TASK_IMAGE"))
    task_python: Path | None = Field(None, validation_alias=_env("RETRAIN_TASK_PYTHON"))

    batch_rows: int = Field(100_000, ge=1, validation_alias=_env("RETRAIN_BATCH_ROWS"))

    telegram_token: SecretStr | None = Field(None, validation_alias=_env("RETRAIN_TELEGRAM_TOKEN", "TG_TOKEN"))
    telegram_chat: str | None = Field(None, validation_alias=_env("RETRAIN_TELEGRAM_CHAT", "TG_CHAT"))
    telegram_api_url: str = Field(
        "https://api.telegram.org", validation_alias=_env("RETRAIN_TELEGRAM_API_URL", "TG_API_URL")
    )
    notify_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("RETRAIN_NOTIFY_URLS")
    )
    notify_retries: int = Field(3, ge=0, le=20, validation_alias=_env("RETRAIN_NOTIFY_RETRIES"))
    notify_timeout: float = Field(10.0, gt=0, le=300, validation_alias=_env("RETRAIN_NOTIFY_TIMEOUT"))

    demo_days: int = Field(35, ge=8, le=3650, validation_alias=_env("RETRAIN_DEMO_DAYS"))
    demo_start: date = Field(date(2025, 12, 1), validation_alias=_env("RETRAIN_DEMO_START"))
    wait_timeout: int = Field(6 * 3600, ge=1, validation_alias=_env("RETRAIN_WAIT_TIMEOUT"))
    wait_poke_interval: int = Field(60, ge=1, validation_alias=_env("RETRAIN_WAIT_POKE_INTERVAL"))
    retry_delay: float = Field(20.0, ge=0, le=3600, validation_alias=_env("RETRAIN_RETRY_DELAY"))
    task_retries: int = Field(2, ge=0, le=20, validation_alias=_env("RETRAIN_TASK_RETRIES"))

    mlflow_tracking_uri_override: str | None = Field(None, validation_alias=_env("MLFLOW_TRACKING_URI"))
    lock_url: str | None = Field(None, validation_alias=_env("RETRAIN_LOCK_URL"))
    allow_unverified_models: bool = Field(False, validation_alias=_env("RETRAIN_ALLOW_UNVERIFIED_MODELS"))
    airflow_port: int = Field(8080, ge=1, le=65535, validation_alias=_env("RETRAIN_AIRFLOW_PORT"))
    mlflow_port: int = Field(5000, ge=1, le=65535, validation_alias=_env("RETRAIN_MLFLOW_PORT"))

    @field_validator("home", "data_dir_override")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Resolved once, at start: a worker in another folder must see the same files."""
        return value.expanduser().absolute() if value is not None else None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        """A folder must exist (made absolute: a worker in another folder sees the same days); a URL must parse."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        kind = source_kind(value)
        if kind == "folder":
            folder = Path(value).expanduser().absolute()
            if not folder.is_dir():
                raise ValueError(
                    f"folder {folder} does not exist (or is not a folder): create it with one sub-folder per day "
                    "(YYYY-MM-DD/data.csv or data.parquet), or give a database URL, airflow://CONN_ID or s3://..."
                )
            return str(folder)
        if kind == "airflow" and not value.removeprefix(AIRFLOW_CONN_PREFIX).strip("/"):
            raise ValueError("airflow:// needs a connection id, as in airflow://my_postgres")
        if kind == "database":
            check_database_url(value)
        return value

    @field_validator("predictions_url")
    @classmethod
    def _check_predictions_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        check_database_url(value.strip())
        return value.strip()

    @field_validator("predictions_table", "label_column")
    @classmethod
    def _check_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError("must be a name of letters, digits and _ (a table may be schema.table), e.g. predictions")
        return value

    @field_validator("estimator_params", mode="before")
    @classmethod
    def _parse_params(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object such as '{{\"max_iter\": 200}}' ({exc.msg})") from None
            if not isinstance(value, dict):
                raise ValueError("must be a JSON object such as '{\"max_iter\": 200}'")
        return value

    @field_validator("notify_urls", "approvers", "slice_columns", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("estimator")
    @classmethod
    def _check_import_path(cls, value: str) -> str:
        module, _, name = value.rpartition(".")
        if not module or not name or not all(p.isidentifier() for p in value.split(".")):
            raise ValueError(
                "must be an import path of a classifier class such as sklearn.linear_model.LogisticRegression"
            )
        return value

    @field_validator("lock_url")
    @classmethod
    def _check_lock_url(cls, value: str | None) -> str | None:
        """The promotion lock is a PostgreSQL advisory lock (see retrain.registry.locks)."""
        if value and not value.startswith(POSTGRES_URL_SCHEMES):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user@host:5432/mlflow")
        return value or None

    @field_validator("airflow_url")
    @classmethod
    def _check_airflow_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be the Airflow UI's http(s) address such as https://airflow.example.com")
        return value.rstrip("/") if value else None

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _telegram_pair(self) -> Settings:
        if bool(self.telegram_token) != bool(self.telegram_chat):
            missing = "TG_CHAT (RETRAIN_TELEGRAM_CHAT)" if self.telegram_token else "TG_TOKEN (RETRAIN_TELEGRAM_TOKEN)"
            raise ValueError(f"Telegram needs both a token and a chat id; {missing} is not set")
        tail = self.gate_resamples * (1.0 - self.gate_confidence) / 2.0
        if tail < 5:  # a percentile bound read off fewer than 5 resamples in its tail is mostly noise
            needed = math.ceil(10.0 / (1.0 - self.gate_confidence))
            raise ValueError(
                f"RETRAIN_GATE_RESAMPLES ({self.gate_resamples}) is too few for RETRAIN_GATE_CONFIDENCE "
                f"({self.gate_confidence}): each tail of the interval needs >= 5 resamples; use >= {needed}"
            )
        if self.source and source_kind(self.source) in ("database", "airflow") and not self.source_query:
            raise ValueError(
                "RETRAIN_SOURCE is a database: set RETRAIN_SOURCE_QUERY to SQL returning one day's rows, "
                "with a :ds parameter, e.g. SELECT * FROM events WHERE day = :ds ORDER BY id"
            )
        if self.source_query and ":ds" not in self.source_query:
            raise ValueError(
                "RETRAIN_SOURCE_QUERY must use the :ds parameter (the day, 'YYYY-MM-DD') to select one day"
            )
        if self.holdout_days > self.window_days:
            raise ValueError(
                f"RETRAIN_HOLDOUT_DAYS ({self.holdout_days}) must not exceed RETRAIN_WINDOW_DAYS ({self.window_days})"
            )
        return self

    # Derived locations: computed, never stored twice.
    @property
    def data_dir(self) -> Path:
        return self.data_dir_override or self.home / "data"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.jsonl"

    @property
    def outbox_path(self) -> Path:
        """Every notification sent, one JSON line each (what the demo lists, what reruns check)."""
        return self.home / "notifications.jsonl"

    @property
    def mlflow_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri_override:
            return self.mlflow_tracking_uri_override
        return f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to print or log: secrets are masked, never the values."""
        data = self.model_dump(mode="json")
        from retrain.secrets import mask_url

        data["telegram_token"] = "**********" if self.telegram_token else None
        data["notify_urls"] = ["**********" for _ in self.notify_urls]
        # every other URL setting
        urls = (
            "mlflow_tracking_uri_override",
            "telegram_api_url",
            "lock_url",
            "source",
            "predictions_url",
            "airflow_url",
        )
        for name in urls:
            if data[name]:
                data[name] = mask_url(data[name])
        return data

    def effective_locations(self) -> dict[str, str]:
        """Where this configuration reads, writes and reports to, after defaults (URL passwords masked)."""
        from retrain.secrets import mask_url

        return {
            "mlflow_tracking_uri": mask_url(self.mlflow_tracking_uri),
            "data_dir": str(self.data_dir),
            "airflow_home": str(Path(os.environ.get("AIRFLOW_HOME") or self.airflow_home).absolute()),
            "mlflow_telemetry": _mlflow_telemetry(),
        }


def _mlflow_telemetry() -> str:
    """Whether MLflow reports usage (off unless the user opted in: `retrain/__init__.py` sets the default).

    MLflow's own rule (`mlflow.telemetry.utils.is_telemetry_disabled`), read here without importing MLflow.
    """
    off = os.environ.get("MLFLOW_DISABLE_TELEMETRY", "").lower() in ("true", "1")
    if off or os.environ.get("DO_NOT_TRACK", "false").lower() == "true":
        return "off"
    return "on: MLflow reports usage to mlflow-telemetry.io (MLFLOW_DISABLE_TELEMETRY=false)"


_ENV_NAMES: dict[str, str] = {}


def _known_env_names() -> dict[str, str]:
    if not _ENV_NAMES:
        for name, field in Settings.model_fields.items():
            alias = field.validation_alias
            for choice in getattr(alias, "choices", []):
                _ENV_NAMES[str(choice)] = name
    return _ENV_NAMES


def env_names() -> frozenset[str]:
    """Every environment variable a setting is read from: the `RETRAIN_*` names and the seed names
    (`TG_TOKEN`, `METRIC_THRESHOLD`, `MLFLOW_TRACKING_URI`, ...). The one list of them: it is derived
    from the fields above, so a new setting is known everywhere at once."""
    return frozenset(_known_env_names())


def _describe(field_name: str) -> str:
    field = Settings.model_fields[field_name]
    names = [str(c) for c in getattr(field.validation_alias, "choices", [field_name])]
    return " / ".join(names)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings, failing with a message that names the variable.

    Unknown `RETRAIN_*` variables are refused too: a typo must not silently fall back to a default.
    """
    from retrain.secrets import mask_url

    env = dict(os.environ if environ is None else environ)
    known = _known_env_names()
    unknown = sorted(k for k in env if k.startswith("RETRAIN_") and k not in known)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise SettingsError(
            "unknown setting(s) in the environment: "
            + ", ".join(hints)
            + ". See README.md 'Settings' for the accepted names."
        )
    values = {k: v for k, v in env.items() if k in known}
    try:
        return Settings(**values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc") or ()]
            field_name = next((known[p] for p in loc if p in known), None)
            where = _describe(field_name) if field_name else "settings"
            given = ""
            if field_name:
                for alias in _describe(field_name).split(" / "):
                    if alias in values:
                        shown = "**********" if "TOKEN" in alias or "URLS" in alias else mask_url(values[alias])
                        given = f"={shown!r}"
                        break
            lines.append(f"{where}{given}: {error['msg']}")
        raise SettingsError("invalid setting: " + "; ".join(lines)) from None


def check_usable(settings: Settings) -> None:
    """The check that needs an import, done at start instead of after a task's retries.

    `RETRAIN_ESTIMATOR` must import and build a classifier (a class, or a `module:function` factory
    returning one) that accepts `RETRAIN_ESTIMATOR_PARAMS` (constructor and `get_params`; nothing is
    fitted). (`RETRAIN_SOURCE` is checked when the settings load: see `_check_source`.)

    Raises:
        SettingsError: Naming the setting and what to change.
    """
    from retrain.model.train import EstimatorError, build_estimator

    try:
        build_estimator(settings.estimator, settings.estimator_params, settings.seed)
    except EstimatorError as exc:
        raise SettingsError(f"invalid setting: {exc}") from None
