"""What callers hold of the registry: errors, version references, and THE parser of model URIs.

A model URI names a model in one of four ways; `parse_model_uri` is the only place that reads one:

| URI | what it names |
|---|---|
| `models:/NAME/3` | version 3 of the registered model NAME (pinned) |
| `models:/NAME@champion` | whatever version the alias points at NOW (moves when a version is promoted) |
| `models:/NAME/latest` | the highest version number NOW |
| `models:/m-<id>` | an MLflow 3 logged model |
| `runs:/<run id>/model`, a path, any other URI | a model outside the registry |

An alias (or `latest`) is resolved ONCE per job by `Registry.pin`, so that a promotion in the middle of a
job cannot mix two models in one day's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrain.errors import BadInputError

CHAMPION = "champion"
MODEL_ARTIFACT = "model"
SHA_TAG = "model_sha256"
HISTORY_TAG = "retrain.champion_history"

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"


class RegistryError(RuntimeError):
    """A registry operation cannot be done as asked (unknown version, nothing to roll back to, ...)."""


class ModelNotFoundError(RegistryError, BadInputError):
    """A model URI names a model, version, alias or path that does not exist.

    Bad input (`retrain.errors.classify`): a retry reads the same URI, so a task fails at once, and
    the CLI prints the message (which says what does exist) as one `error:` line.
    """


class StaleChampionError(RegistryError):
    """The champion changed since the caller read it; nothing was changed by the refused promotion."""


class TamperedModelError(RegistryError):
    """The model file's SHA-256 differs from the one recorded when it was logged."""


class UntrustedModelError(RegistryError):
    """The model holds a type outside the allow-list, or uses a pickle format we refuse."""


class UnverifiedModelError(UntrustedModelError):
    """No SHA-256 is recorded for the model, and the caller did not allow unverified models."""


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


@dataclass(frozen=True)
class PinnedModel:
    """A model URI resolved to what it names right now, for one job to load again and again.

    Attributes:
        uri: A URI that always names the same bytes: `models:/NAME/3` for anything in the registry
            (an alias or `latest` resolved), else the URI as given (`runs:/…`, a path).
        version: What `model_version` in predictions says: the registry version ("3") for this
            registry's model, else the pinned URI itself (another model name, a run, a path).
    """

    uri: str
    version: str


@dataclass(frozen=True)
class ModelUri:
    """The parts of a model URI (see the module docstring); at most one of version/alias/model_id is set.

    Attributes:
        name: The registered model name (`models:/NAME/...`), else None.
        version: A version number as a string, or "latest".
        alias: An alias such as "champion".
        model_id: An MLflow 3 logged-model id (`m-…`).
        run_id: The run of a `runs:/` URI.
    """

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    model_id: str | None = None
    run_id: str | None = None

    @property
    def in_registry(self) -> bool:
        """True for `models:/NAME/N`, `models:/NAME/latest` and `models:/NAME@alias`."""
        return self.name is not None


def version_uri(name: str, version: str | int) -> str:
    """The pinned URI of one registered version: `models:/{name}/{version}`."""
    return f"{MODELS_SCHEME}{name}/{version}"


def parse_model_uri(uri: str) -> ModelUri:
    """Split a model URI into its parts; anything that is not `models:/` or `runs:/` is kept whole.

    Args:
        uri: `models:/NAME/3`, `models:/NAME@alias`, `models:/NAME/latest`, `models:/m-<id>`,
            `runs:/<run id>/<path>`, or a path / other artifact URI.

    Returns:
        The parts; `ModelUri(uri)` with nothing else set for a path or another scheme.

    Raises:
        RegistryError: For a `models:/` URI that is none of the above (e.g. `models:/NAME/v3`).
    """
    if uri.startswith(RUNS_SCHEME):
        return ModelUri(uri, run_id=uri[len(RUNS_SCHEME) :].split("/", 1)[0] or None)
    if not uri.startswith(MODELS_SCHEME):
        return ModelUri(uri)
    body = uri[len(MODELS_SCHEME) :].rstrip("/")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if name and alias and "/" not in alias:
            return ModelUri(uri, name=name, alias=alias)
    else:
        name, _, number = body.rpartition("/")
        if name and (number.isdigit() or number == "latest"):
            return ModelUri(uri, name=name, version=number)
        if not name and number.startswith("m-"):
            return ModelUri(uri, model_id=number)
    raise RegistryError(
        f"model URI {uri!r} is not understood: use models:/NAME/VERSION, models:/NAME@ALIAS, "
        "models:/NAME/latest, runs:/RUN_ID/model or a model folder"
    )
