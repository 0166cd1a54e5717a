"""The model card under models/{ds}/: what was trained, on which window, how it scored, what the gate said.

A reader (or an auditor) finds every retrain's facts as plain JSON files next to the data, without
needing MLflow: metrics.json, params.json, window.json, decision.json, and model.json once deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrain.io import read_json, write_json
from retrain.settings import Settings


def write_card(folder: Path, *, ctx: dict[str, Any], decision: dict[str, Any], settings: Settings) -> None:
    write_json(
        folder / "metrics.json",
        {
            "metric": ctx["metric"],
            "challenger": ctx["challenger_metrics"],
            "champion": ctx["champion_metrics"],
            "challenger_score": ctx["challenger_score"],
            "champion_score": ctx["champion_score"],
            "champion_version": ctx["champion_version"],
        },
    )
    write_json(
        folder / "params.json",
        {
            "estimator": settings.estimator,
            "estimator_params": settings.estimator_params,
            "seed": settings.seed,
            "run_id": ctx["run_id"],
        },
    )
    write_json(
        folder / "window.json",
        {
            "start": ctx["window"][0],
            "end": ctx["window"][-1],
            "days": ctx["window"],
            "holdout_days": ctx["fresh"],
            "train_rows": ctx["train_rows"],
            "holdout_rows": ctx["val_rows"],
        },
    )
    write_json(folder / "decision.json", {**decision, "trigger": ctx["trigger"]})


def read_decision(folder: Path) -> dict[str, Any]:
    path = folder / "decision.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the gate (decide_deploy) has not run for this date")
    return read_json(path)


def write_model_ref(folder: Path, *, model_name: str, version: str, previous_version: str | None, run_id: str) -> None:
    """Written last, after the alias moved: its presence means the deploy of this date completed."""
    write_json(
        folder / "model.json",
        {
            "model_name": model_name,
            "version": version,
            "uri": f"models:/{model_name}/{version}",
            "previous_version": previous_version,
            "run_id": run_id,
        },
    )
