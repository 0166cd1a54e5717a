"""Batch scoring of one day: pin the model, check the day, score row ranges, merge them in order.

The use case behind the `batch_predict` DAG (`retrain.airflow.predict_tasks` maps each step to one
task; `PredictJob.run` does all of them in one process):

1. `resolve_model`: an explicit model URI if given (the Airflow Variable `retrain_model_uri`), else the
   champion, pinned ONCE per run as a concrete registry version (`models:/name/3`), so a promotion in
   the middle of a run cannot mix two models in one day's predictions.
2. `list_batches`: the whole day is streamed once with the model's feature columns (`check_day`): a bad
   day fails here, before any batch is scored, and is moved to `quarantine/{ds}/`. Then the day is
   split into row ranges of `RETRAIN_BATCH_ROWS`.
3. `score_batch`: one row range into one part file (`Layout.prediction_part`), in parallel.
4. `merge`: the parts joined in input order into `predictions/{ds}/predictions.csv` (atomically), plus
   `_meta.json` (model, rows, input checksum); with `RETRAIN_PREDICTIONS_URL` the day also replaces its
   rows of the predictions table (`retrain.scoring.sinks`); then the parts are removed.

Every step's output is a small frozen dataclass with `to_dict()` / `from_dict()`: XCom carries dicts.
Nothing here imports Airflow.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from retrain.data.errors import DataValidationError
from retrain.jobs._payload import Payload

if TYPE_CHECKING:
    from retrain.layout import Layout
    from retrain.registry import Registry
    from retrain.registry.cached import CachedRegistry
    from retrain.settings import Settings

__all__ = [
    "Batch",
    "DayPredictions",
    "NoChampionError",
    "PinnedModel",
    "PredictError",
    "PredictJob",
    "RefusedModelError",
    "ScoredBatch",
    "check_day",
]

log = logging.getLogger(__name__)


class PredictError(RuntimeError):
    """Scoring cannot start or finish, and a retry would not change that (the message says what to do)."""


class NoChampionError(PredictError):
    """No model to score with: no champion yet and no model URI given."""


class RefusedModelError(PredictError):
    """The pinned model's artifact was modified or holds untrusted types: it is never loaded."""


@dataclass(frozen=True)
class PinnedModel(Payload):
    """The model a run scores with, pinned once.

    Attributes:
        model_uri: A concrete URI (`models:/name/3`, `runs:/...`, a path), never an alias for the champion.
        version: What goes into `predictions.csv`'s `model_version`: the registry version, else the URI.
        source: "champion" or "variable" (an explicit URI from the Airflow Variable / the caller).
    """

    model_uri: str
    version: str
    source: Literal["champion", "variable"]


@dataclass(frozen=True)
class Batch(Payload):
    """One row range `[start, stop)` of the day, to be scored by the pinned model into part `index`."""

    index: int
    start: int
    stop: int
    model_uri: str
    version: str
    source: str


@dataclass(frozen=True)
class ScoredBatch(Payload):
    """A scored row range: its part file, first row, row count, wall seconds and the model that scored it."""

    index: int
    part: str
    rows: int
    start: int
    seconds: float
    version: str
    model_uri: str


@dataclass(frozen=True)
class DayPredictions(Payload):
    """The day's merged predictions: the file, its rows and the model version that scored them."""

    predictions: str
    rows: int
    model_version: str | None


def check_day(
    layout: Layout, ds: str, columns: Sequence[str], batch_rows: int, schema: dict[str, Any] | None = None
) -> int:
    """Stream the whole day once with the model's columns before any batch is scored; its row count.

    A bad day (unreadable, a missing column, a non-numeric, missing or infinite value, no data rows)
    fails here at once, before any batch is scored: no part files and no predictions. It is moved to
    `quarantine/{ds}/` with a reason.txt that names the file, the column and the first bad row. Costs
    one streaming read of the day (pyarrow, bounded memory); columns the model does not read are
    never parsed.

    With the model's feature `schema` (`feature_schema_`, `retrain.model.schema`) text, boolean and
    missing values are read as the model takes them, and categories it never saw in training are
    logged (the model handles them: an unseen category counts as unknown), never refused.

    Raises:
        DataValidationError: The day is bad; the message names file, column and row, and ends with
            "(the day was quarantined to FOLDER)".
    """
    import pyarrow as pa

    from retrain.data.load import quarantine_day
    from retrain.data.validate import explain_unscorable
    from retrain.model.schema import FeatureSchema
    from retrain.scoring import ScoringInputError, readers
    from retrain.scoring.engine import schema_kinds

    path = layout.raw_data(ds)
    columns = list(columns)
    kinds = schema_kinds(schema)
    unseen: dict[str, set[str]] = {}
    rows = 0
    try:
        for _, batch in readers.matrices(
            readers.open_features(path, columns, kinds=kinds), columns, batch_rows, first_row=0, path=path, kinds=kinds
        ):
            rows += len(batch)
            if kinds is not None and schema:
                for name, values in FeatureSchema.from_dict(schema).check(batch, source=str(path)).items():
                    unseen.setdefault(name, set()).update(values)
        if rows == 0:
            raise DataValidationError.at(path, "the file has a header but no data rows", fix="land a day with data")
    except (ScoringInputError, DataValidationError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        error = explain_unscorable(path, columns, exc, kinds)
        folder = quarantine_day(layout, ds, str(error), [layout.raw_data(ds), layout.raw_target(ds)])
        quarantined = DataValidationError(f"{error} (the day was quarantined to {folder})")
        quarantined.path, quarantined.column, quarantined.row = error.path, error.column, error.row
        raise quarantined from exc
    for name, values in unseen.items():
        log.info(
            "%s: column %r holds %d categor(ies) never seen in training (e.g. %s): the model treats them as unknown",
            path,
            name,
            len(values),
            sorted(values)[:5],
        )
    return rows


@dataclass(frozen=True)
class PredictJob:
    """Score one day with one pinned model (see the module docstring for the steps).

    Attributes:
        settings: The typed settings (model name, `batch_rows`).
        layout: Where the day's input, parts and predictions live.
        registry: The model registry (champion lookup and verified loading).
    """

    settings: Settings
    layout: Layout
    registry: Registry | CachedRegistry

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictJob:
        """The job on the settings' data folder and registry."""
        from retrain.layout import Layout
        from retrain.registry.cached import CachedRegistry

        # the model cache answers while the store is unchanged: MLflow is imported only on a miss
        return cls(settings, Layout(settings.data_dir), CachedRegistry.from_settings(settings))

    def run(self, ds: str, model_uri: str | None = None) -> DayPredictions:
        """All steps in this process: resolve, check and split, score every batch, merge."""
        model = self.resolve_model(ds, model_uri)
        scored = [self.score_batch(batch, ds) for batch in self.list_batches(model, ds)]
        return self.merge(scored, ds)

    def resolve_model(self, ds: str, model_uri: str | None = None) -> PinnedModel:
        """`model_uri` if given, else the champion, pinned to its version.

        Raises:
            NoChampionError: No `model_uri` and no champion yet.
        """
        if model_uri:
            log.info("scoring with %s (given explicitly)", model_uri)
            pinned = self.registry.pin(model_uri)  # an alias is resolved once: every batch loads this version
            return PinnedModel(pinned.uri, pinned.version, "variable")
        champion = self.registry.champion()
        if champion is None:
            raise NoChampionError(
                f"no champion for model {self.settings.model_name!r} yet: run the retrain DAG first "
                f"(retrain run retrain --date {ds}), or set the Airflow Variable retrain_model_uri"
            )
        log.info("scoring with champion version %s (%s), pinned for this run", champion.version, champion.uri)
        return PinnedModel(champion.uri, champion.version, "champion")

    def load(self, model_uri: str) -> Any:
        """Load the pinned model, verified; a tampered or untrusted artifact is refused (never retried).

        Raises:
            RefusedModelError: The artifact was modified or holds untrusted types.
        """
        from retrain.registry import TamperedModelError, UntrustedModelError

        try:
            return self.registry.load_model(model_uri)
        except (TamperedModelError, UntrustedModelError) as exc:
            raise RefusedModelError(f"refusing to score with {model_uri}: {exc}") from exc

    def list_batches(self, model: PinnedModel, ds: str) -> list[Batch]:
        """Check the whole day (`check_day`), then split it into row ranges of `settings.batch_rows`.

        Leftover parts of a killed run are removed here; the final file of an earlier run is untouched.

        Raises:
            DataValidationError: The day is bad (and was quarantined).
            RefusedModelError: The model is refused.
        """
        from retrain.scoring import feature_columns, plan_batches

        loaded = self.load(model.model_uri)
        columns = feature_columns(loaded)
        rows = check_day(self.layout, ds, columns, self.settings.batch_rows, getattr(loaded, "feature_schema_", None))
        ranges = plan_batches(rows, self.settings.batch_rows)
        shutil.rmtree(self.layout.prediction_parts(ds), ignore_errors=True)
        log.info("%d rows in %d batch(es) of up to %d rows", rows, len(ranges), self.settings.batch_rows)
        return [
            Batch(i, start, stop, model.model_uri, model.version, model.source)
            for i, (start, stop) in enumerate(ranges)
        ]

    def score_batch(self, batch: Batch, ds: str) -> ScoredBatch:
        """Score one row range with the pinned model into its part file.

        Raises:
            retrain.scoring.ScoringInputError: A value the model cannot take (the day changed since
                `list_batches` checked it).
            RefusedModelError: The model is refused.
        """
        from retrain.scoring import feature_columns, score_range

        started = time.perf_counter()
        model = self.load(batch.model_uri)
        part = self.layout.prediction_part(ds, batch.index)
        rows = score_range(
            model,
            self.layout.raw_data(ds),
            batch.start,
            batch.stop,
            part,
            model_version=batch.version,
            columns=feature_columns(model),
        )
        seconds = round(time.perf_counter() - started, 3)
        return ScoredBatch(batch.index, str(part), rows, batch.start, seconds, batch.version, batch.model_uri)

    def merge(self, scored: Sequence[ScoredBatch], ds: str) -> DayPredictions:
        """Merge the parts in input order into `predictions/{ds}/predictions.csv`, then `_meta.json`.

        Raises:
            retrain.scoring.MixedModelsError: The parts were scored by different versions (nothing written).
        """
        from retrain.io import sha256_file, write_json
        from retrain.scoring import ScoredPart, merge_scored

        ordered = sorted(scored, key=lambda s: s.start)
        output = self.layout.predictions_file(ds)
        rows, version = merge_scored([ScoredPart(s.part, s.start, s.rows, s.version) for s in ordered], output)
        meta = {
            "ds": ds,
            "model_uri": ordered[0].model_uri if ordered else None,
            "model_version": version,
            "rows": rows,
            "batches": len(ordered),
            "input": str(self.layout.raw_data(ds)),
            "input_sha256": sha256_file(self.layout.raw_data(ds)),
            "batch_seconds": [s.seconds for s in ordered],
        }
        write_json(self.layout.predictions_meta(ds), meta)
        if self.settings.predictions_url:  # before the parts go: a retry after a sink failure merges again
            from retrain.scoring.sinks import write_day_to_table

            write_day_to_table(self.settings.predictions_url, self.settings.predictions_table, ds, output)
        shutil.rmtree(self.layout.prediction_parts(ds), ignore_errors=True)
        log.info("wrote %s: %d rows scored by %s", output, rows, meta["model_uri"])
        return DayPredictions(str(output), rows, version)
