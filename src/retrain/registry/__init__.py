"""MLflow tracking and model registry behind one small service object, `Registry`.

Everything the system asks of MLflow goes through `Registry`: log a challenger run, record the gate's
decision on it, register a version, read and move the `champion` alias (compare-and-swap under a lock
that holds across hosts, never overwriting or deleting a version), roll back, list the history, pin a
URI to a concrete version, and load a model after checking it is byte-for-byte the one that was logged
and made only of allowed types. Importing this package does not import MLflow (seconds): `Registry` is
imported on first use, so the errors, URI parsing, verified loading of a local folder and the model
cache cost nothing more than themselves.

Modules, one job each:

| module | job |
|---|---|
| `refs` | errors, `ModelRef`, `PinnedModel`, `parse_model_uri` (the one parser of model URIs) |
| `store` | the MLflow client, tracking URI, experiment and downloads shared by the others |
| `tracking` | the challenger's run, its artifacts and the gate decision; registering a version |
| `aliases` | the champion alias: compare-and-swap promotion, history, rollback, `pin` |
| `locks` | the promotion lock: PostgreSQL advisory lock across hosts, else a file lock |
| `loading` | finding a model with MLflow and downloading it, for `verified` to check and load |
| `verified` | loading a local model folder: checksum, exact type allow-list (`trusted_types`), skops (no MLflow) |
| `cache` | local copies of resolved models, reused while the SQLite store is unchanged |
| `cached` | `CachedRegistry`: the champion and its verified model for the daily jobs, from the cache first |
| `quiet` | MLflow's expected log chatter, muted |
| `service` | `Registry`, assembled from the above |
"""

from typing import TYPE_CHECKING

from retrain.registry.refs import (
    CHAMPION,
    HISTORY_TAG,
    MODEL_ARTIFACT,
    SHA_TAG,
    ModelNotFoundError,
    ModelRef,
    ModelUri,
    PinnedModel,
    RegistryError,
    StaleChampionError,
    TamperedModelError,
    UntrustedModelError,
    UnverifiedModelError,
    parse_model_uri,
    version_uri,
)
from retrain.registry.trusted_types import ALLOWED_TYPES
from retrain.registry.verified import check_types, load_model_dir, skops_trusted_types

if TYPE_CHECKING:
    from retrain.registry.service import Registry

__all__ = [
    "ALLOWED_TYPES",
    "CHAMPION",
    "HISTORY_TAG",
    "MODEL_ARTIFACT",
    "SHA_TAG",
    "ModelNotFoundError",
    "ModelRef",
    "ModelUri",
    "PinnedModel",
    "Registry",
    "RegistryError",
    "StaleChampionError",
    "TamperedModelError",
    "UntrustedModelError",
    "UnverifiedModelError",
    "check_types",
    "load_model_dir",
    "parse_model_uri",
    "skops_trusted_types",
    "version_uri",
]


def __getattr__(name: str) -> object:
    """`Registry` on first use (PEP 562): it imports MLflow, which callers that only verify, parse or
    read the model cache never need."""
    if name == "Registry":
        from retrain.registry.service import Registry

        return Registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
