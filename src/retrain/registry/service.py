"""`Registry`: everything the system asks of MLflow, behind one small service object.

It is assembled from one class per job, each in its own module: `Tracking` (runs, the challenger, its
artifacts, registration), `Aliases` (the champion alias: compare-and-swap, history, rollback, pinning
URIs) and `Loading` (verified loading), on the shared `MlflowStore` (client, tracking URI, lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.registry.aliases import Aliases
from retrain.registry.loading import Loading
from retrain.registry.tracking import Tracking

if TYPE_CHECKING:
    from retrain.settings import Settings


class Registry(Tracking, Aliases, Loading):
    """MLflow tracking and registry for one model name (see `MlflowStore` for the arguments)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """The registry the settings describe (store, model name, lock, unverified-model policy)."""
        return cls(
            settings.mlflow_tracking_uri,
            settings.model_name,
            settings.mlflow_artifact_root,
            lock_url=settings.lock_url,
            allow_unverified=settings.allow_unverified_models,
        )
