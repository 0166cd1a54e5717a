"""MLflow tracking and model registry behind one small service object, `Registry`.

Everything the system asks of MLflow goes through `Registry`: log a challenger run, record the gate's
decision on it, register a version, read and move the `champion` alias (compare-and-swap under a lock
that holds across hosts, never overwriting or deleting a version), roll back, list the history, pin a
URI to a concrete version, and load a model after checking it is byte-for-byte the one that was logged
and made only of allowed types. Tasks import this package inside their functions, so the MLflow import
(seconds) is paid only by the tasks that need it.

Modules, one job each:

| module | job |
|---|---|
| `refs` | errors, `ModelRef`, `PinnedModel`, `parse_model_uri` (the one parser of model URIs) |
| `store` | the MLflow client, tracking URI, experiment and downloads shared by the others |
| `tracking` | the challenger's run, its artifacts and the gate decision; registering a version |
| `aliases` | the champion alias: compare-and-swap promotion, history, rollback, `pin` |
| `locks` | the promotion lock: PostgreSQL advisory lock across hosts, else a file lock |
| `loading` | verified loading: checksum, exact type allow-list (`trusted_types`), then skops |
| `quiet` | MLflow's expected log chatter, muted |
| `service` | `Registry`, assembled from the above |
"""

from retrain.registry.loading import check_types, load_model_dir, skops_trusted_types
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
from retrain.registry.service import Registry
from retrain.registry.trusted_types import ALLOWED_TYPES

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
