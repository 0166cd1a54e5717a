"""Task callables of the `batch_predict` DAG: resolve the model once, score row ranges, merge in order.

The model is resolved ONCE per run and pinned as a concrete registry version (`models:/name/3`), so a
promotion in the middle of a run cannot mix two models in one day's predictions.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from retrain.airflow.context import settings_and_layout

log = logging.getLogger(__name__)

MODEL_URI_VARIABLE = "retrain_model_uri"
"""Airflow Variable that, when set, names the model URI to score with instead of the champion."""


def _parts_dir(layout: Any, ds: str) -> Path:
    return layout.predictions(ds) / "_parts"


def data_has_landed(ds: str) -> bool:
    """Sensor: the day's features are there (labels are not needed to score)."""
    _, layout = settings_and_layout()
    return layout.raw_data(ds).is_file()


def resolve_model(ds: str) -> dict:
    """The Variable `retrain_model_uri` if set, else the champion, pinned to its version."""
    from airflow.sdk import Variable

    from retrain.registry import Registry

    settings, _ = settings_and_layout()
    registry = Registry.from_settings(settings)
    override = Variable.get(MODEL_URI_VARIABLE, default=None)
    if override:
        log.info("scoring with %s (Airflow Variable %s)", override, MODEL_URI_VARIABLE)
        version = override.rsplit("/", 1)[-1] if override.startswith(f"models:/{settings.model_name}/") else override
        return {"model_uri": override, "version": version, "source": "variable"}
    champion = registry.champion()
    if champion is None:
        raise AirflowFailException(
            f"no champion for model {settings.model_name!r} yet: run the retrain DAG first "
            f"(retrain run retrain --date {ds}), or set the Airflow Variable {MODEL_URI_VARIABLE}"
        )
    log.info("scoring with champion version %s (%s), pinned for this run", champion.version, champion.uri)
    return {"model_uri": champion.uri, "version": champion.version, "source": "champion"}


def list_batches(model: dict, ds: str) -> list[dict]:
    """Split the day into row ranges of RETRAIN_BATCH_ROWS; each becomes one mapped `predict_batch`."""
    from retrain.scoring.engine import plan_batches

    settings, layout = settings_and_layout()
    rows = check_day(layout, ds, model["model_uri"], settings)
    ranges = plan_batches(rows, settings.batch_rows)
    parts = _parts_dir(layout, ds)
    shutil.rmtree(parts, ignore_errors=True)  # leftovers of a killed run; the final file is untouched
    log.info("%d rows in %d batch(es) of up to %d rows", rows, len(ranges), settings.batch_rows)
    return [{"index": i, "start": start, "stop": stop, **model} for i, (start, stop) in enumerate(ranges)]


def _load(registry: Any, uri: str) -> Any:
    """Load the pinned model; a tampered or untrusted artifact fails at once (a retry loads the same bytes)."""
    from retrain.registry import TamperedModelError, UntrustedModelError

    try:
        return registry.load_model(uri)
    except (TamperedModelError, UntrustedModelError) as exc:
        raise AirflowFailException(f"refusing to score with {uri}: {exc}") from exc


def check_day(layout: Any, ds: str, model_uri: str, settings: Any) -> int:
    """Stream the whole day once with the model's columns before any batch is scored; its row count.

    A bad day (unreadable, a missing column, a non-numeric, missing or infinite value, no data rows)
    fails here at once, before any mapped task starts: one failed task, one alert, no part files and no
    predictions. It is moved to quarantine/{ds}/ with a reason.txt that names the file, the column and
    the first bad row. Costs one streaming read of the day (pyarrow, bounded memory).
    """
    import pyarrow as pa

    from retrain.data.errors import DataValidationError
    from retrain.data.load import quarantine_day
    from retrain.data.validate import explain_unscorable
    from retrain.registry import Registry
    from retrain.scoring import readers
    from retrain.scoring.engine import ScoringInputError, feature_columns

    path = layout.raw_data(ds)
    columns = feature_columns(_load(Registry.from_settings(settings), model_uri))
    rows = 0
    try:
        for _, matrix in readers.matrices(
            readers.open_features(path, columns), columns, settings.batch_rows, first_row=0, path=path
        ):
            rows += len(matrix)
        if rows == 0:
            raise DataValidationError.at(path, "the file has a header but no data rows", fix="land a day with data")
    except (ScoringInputError, DataValidationError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        error = explain_unscorable(path, columns, exc)
        folder = quarantine_day(layout, ds, str(error), [layout.raw_data(ds), layout.raw_target(ds)])
        raise AirflowFailException(f"{error} (the day was quarantined to {folder})") from exc
    return rows


def predict_batch(batch: dict, ds: str) -> dict:
    """Score one row range with the pinned model into a part file."""
    from retrain.registry import Registry
    from retrain.scoring.engine import ScoringInputError, feature_columns, score_range

    settings, layout = settings_and_layout()
    started = time.perf_counter()
    model = _load(Registry.from_settings(settings), batch["model_uri"])
    part = _parts_dir(layout, ds) / f"part-{batch['index']:05d}.csv"
    try:
        rows = score_range(
            model,
            layout.raw_data(ds),
            batch["start"],
            batch["stop"],
            part,
            model_version=batch["version"],
            columns=feature_columns(model),
        )
    except ScoringInputError as exc:
        raise AirflowFailException(str(exc)) from exc
    return {
        "index": batch["index"],
        "part": str(part),
        "rows": rows,
        "start": batch["start"],
        "seconds": round(time.perf_counter() - started, 3),
        "version": batch["version"],
        "model_uri": batch["model_uri"],
    }


def merge_predictions(results: list[dict], ds: str) -> dict:
    """Merge the parts in input order into predictions/{ds}/predictions.csv, atomically, plus _meta.json."""
    from retrain.io import sha256_file, write_json
    from retrain.scoring.engine import merge_parts

    _, layout = settings_and_layout()
    ordered = sorted(results, key=lambda r: r["start"])
    versions = {r["version"] for r in ordered}
    if len(versions) > 1:  # cannot happen with a pinned model; refuse rather than write a mixed day
        raise AirflowFailException(f"batches were scored with different models {sorted(versions)}; rerun the day")
    output = layout.predictions_file(ds)
    rows = merge_parts([Path(r["part"]) for r in ordered], output)
    meta = {
        "ds": ds,
        "model_uri": ordered[0]["model_uri"] if ordered else None,
        "model_version": ordered[0]["version"] if ordered else None,
        "rows": rows,
        "batches": len(ordered),
        "input": str(layout.raw_data(ds)),
        "input_sha256": sha256_file(layout.raw_data(ds)),
        "batch_seconds": [r["seconds"] for r in ordered],
    }
    write_json(layout.predictions(ds) / "_meta.json", meta)
    shutil.rmtree(_parts_dir(layout, ds), ignore_errors=True)
    log.info("wrote %s: %d rows scored by %s", output, rows, meta["model_uri"])
    return {"predictions": str(output), "rows": rows, "model_version": meta["model_version"]}
