"""`retrain check`: the model quality check CI runs (`retrain.jobs.check`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from retrain.cli.app import (
    app,
    refused,
)
from retrain.settings import SettingsError, load_settings


@app.command()
def check(
    baseline: Annotated[Path, typer.Option(help="the committed baseline (its probability files sit beside it)")] = Path(
        "quality/baseline.json"
    ),
    output: Annotated[Path, typer.Option(help="folder for the artifacts: {set}.html reports and summary.md")] = Path(
        "check-report"
    ),
    data_set: Annotated[
        list[str] | None, typer.Option("--data-set", help="only this reference set (repeat); default: all")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(help="NAME=DIR: read set NAME's days from DIR ({ds}/data.csv, {ds}/target.csv) instead"),
    ] = None,
    update_baseline: Annotated[bool, typer.Option(help="rewrite the baseline from this run, on purpose")] = False,
) -> None:
    """Retrain on the fixed reference data sets and compare with the committed baseline (exit 1 if worse).

    Runs the retrain DAG's own steps (no Airflow, a temporary MLflow store) with the configured
    RETRAIN_ESTIMATOR / RETRAIN_ESTIMATOR_PARAMS / RETRAIN_METRIC, and fails when the new model is
    significantly worse than the baseline's (paired bootstrap; see src/retrain/jobs/check.py). The
    Markdown summary is printed and appended to $GITHUB_STEP_SUMMARY when set.
    """
    from retrain.data.errors import BadDataError
    from retrain.errors import ConfigurationError
    from retrain.jobs.check import QualityCheck, summary_markdown
    from retrain.model.train import EstimatorError

    try:
        load_settings()  # the whole environment, checked as every command does: a misspelt name fails here
    except SettingsError as exc:
        raise refused(exc) from None
    sources: dict[str, Path] = {}
    for item in source or []:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            raise typer.BadParameter(f"{item!r} must be NAME=DIR with an existing folder DIR", param_hint="--source")
        sources[name] = Path(folder)
    job = QualityCheck(baseline, output, dict(os.environ), sources)
    try:
        result = job.run(data_set, update_baseline=update_baseline)
    except (ConfigurationError, SettingsError, EstimatorError, BadDataError, FileNotFoundError) as exc:
        raise refused(exc) from None  # exit 2: the check could not run, which is not "the model is worse"
    text = summary_markdown(result)
    from retrain.io import write_text

    write_text(output / "summary.md", text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    typer.echo(text)
    reports = ", ".join(Path(s.report).name for s in result.sets)
    typer.echo(f"artifacts: {output.resolve()} (summary.md, {reports})")
    if not result.ok:
        raise typer.Exit(1)
