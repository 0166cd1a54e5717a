"""`retrain status`, `promote`, `rollback` and `predict`: the champion, its history, moving it, scoring with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.cli.app import (
    app,
    console,
    err,
    refused,
    registry_of,
    settings_or_exit,
)
from retrain.settings import Settings

if TYPE_CHECKING:
    from retrain.registry.cache import CachedModel
    from retrain.registry.lookup import ModelLookup


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """The champion and every decision so far (oldest first)."""
    settings = settings_or_exit()
    from retrain.records.status import build_status

    data = build_status(settings)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from retrain.report.console import print_status

    print_status(console, data, None if data["champion"] else _deleted_champion(settings))


def _deleted_champion(settings: Settings) -> str | None:
    """Why there is no champion when its version was deleted from the registry (the alias went with it)."""
    registry = registry_of(settings)
    gone = registry.deleted_champion()
    return None if gone is None else f"none: {registry.no_champion_reason(gone)}"


def _move_champion(move_with: Callable[[Any], Any]) -> None:
    """Run one move of the champion (`PromotionJob.promote` / `.rollback`), then say what changed in one
    line, or that nothing needed to (then nothing was recorded or announced); a refused move exits 2."""
    from retrain.errors import RetrainError
    from retrain.jobs.promote import PromotionJob
    from retrain.layout import Layout

    settings = settings_or_exit()
    try:
        move = move_with(PromotionJob(settings, Layout(settings.data_dir)))
    except RetrainError as exc:
        raise refused(exc) from None
    name = settings.model_name
    if not move.changed:
        console.print(f"{move.kind}: version {move.version} is already the champion of {name}; nothing changed")
        return
    console.print(f"{move.kind}: {name} champion is now version {move.version} (was {move.previous_version})")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="registry version to make champion")],
    reason: Annotated[str, typer.Option(help="why, for the history")] = "promoted by hand",
) -> None:
    """Make VERSION the champion (recorded in the history, and notified)."""
    _move_champion(lambda job: job.promote(version, reason))


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option("--to", help="version to restore (default: the previous champion)")] = None,
    reason: Annotated[str, typer.Option(help="why, for the history")] = "rolled back by hand",
) -> None:
    """Move the champion back to the previous champion, or to --to VERSION."""
    _move_champion(lambda job: job.rollback(to, reason))


@app.command()
def predict(
    input_path: Annotated[
        Path,
        typer.Option("--input", help="CSV or Parquet file of features", exists=True, dir_okay=False, readable=True),
    ],
    output_path: Annotated[Path, typer.Option("--output", help="predictions file (.csv or .parquet)")],
    model: Annotated[
        str | None,
        typer.Option(
            help="model URI (models:/name/3, models:/name@alias, runs:/id/model, a folder); default: champion"
        ),
    ] = None,
    batch_rows: Annotated[
        int | None, typer.Option(min=1, help="rows per batch (bounds memory); default RETRAIN_BATCH_ROWS")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, sklearn or onnx (checked against sklearn first)")] = "auto",
    allow_unverified: Annotated[
        bool, typer.Option(help="load a model with no recorded SHA-256 (its types are still checked)")
    ] = False,
) -> None:
    """Score any CSV or Parquet file with the champion (or --model), streaming in bounded memory."""
    settings = settings_or_exit()
    for path, what in ((input_path, "--input"), (output_path, "--output")):
        if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise typer.BadParameter(f"{path} must end in .csv or .parquet", param_hint=what)
    if output_path.resolve() == input_path.resolve():
        raise typer.BadParameter(
            f"{output_path} is the input file; write the predictions elsewhere", param_hint="--output"
        )
    if backend not in ("auto", "sklearn", "onnx"):  # retrain.scoring.backends.BACKENDS, before anything loads
        raise typer.BadParameter(f"{backend!r} is not one of auto, sklearn, onnx", param_hint="--backend")
    from retrain.ops.startup import starting
    from retrain.registry.lookup import find_model

    lookup = find_model(settings, model)  # the model cache, else a child process asking MLflow meanwhile
    with starting():  # the scoring libraries load while the lookup runs, with no collection over them
        import skops.io  # noqa: F401
        from pyarrow import ArrowInvalid
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from retrain.scoring.engine import ScoringInputError, score_file

        estimator, model, version = _load_for_scoring(settings, model, lookup, allow_unverified)
    columns = (TextColumn("[bold]scoring"), BarColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task("scoring", total=None)

        def advance(rows: int, total: int | None) -> None:
            progress.update(bar, completed=rows, total=total)

        try:
            stats = score_file(
                estimator,
                input_path,
                output_path,
                batch_rows=batch_rows or settings.batch_rows,
                model_version=version,
                progress=advance,
                backend=backend,
            )
        except (ScoringInputError, ArrowInvalid, UnicodeDecodeError) as exc:
            message = str(exc)
            if input_path.suffix.lower() == ".csv":  # name the file, the column and the first bad row
                from retrain.data.validate import explain_unscorable
                from retrain.scoring.engine import feature_columns, feature_kinds

                columns = feature_columns(estimator)
                message = str(explain_unscorable(input_path, columns, exc, feature_kinds(estimator)))
            err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(
        f"{stats.rows:,} rows scored by {model} into {output_path} in {stats.seconds:.2f} s "
        f"({stats.rows_per_s:,.0f} rows/s, peak RSS {stats.peak_rss_mb:.0f} MB, backend {stats.backend})"
    )


def _load_for_scoring(
    settings: Settings, model: str | None, lookup: ModelLookup, allow_unverified: bool
) -> tuple[Any, str, str]:
    """The verified model `retrain predict` scores with, its pinned URI and its `model_version`.

    The lookup (`retrain.registry.lookup`) finds the bytes without MLflow in this process; the checks
    (recorded SHA-256, type allow-list) are made here, on every run. A cached copy that fails them
    (damaged or swapped on disk) is dropped and fetched again from the store, once.
    """
    from rich.markup import escape

    from retrain.registry import RegistryError, UnverifiedModelError, load_model_dir
    from retrain.registry.lookup import find_model

    allow = allow_unverified or settings.allow_unverified_models

    def load(found: CachedModel) -> Any:
        return load_model_dir(found.model_dir, uri=found.uri, expected_sha=found.sha256, allow_unverified=allow)

    try:
        found = lookup.result()
        try:
            estimator = load(found)
        except (RegistryError, OSError, ValueError) as exc:
            if not lookup.cached or isinstance(exc, UnverifiedModelError):  # a new copy would fail the same way
                raise
            notice = f"the cached copy of {lookup.reference} failed its checks ({exc}); fetching it again"
            err.print(f"[yellow]warning:[/yellow] {escape(notice)}", highlight=False, soft_wrap=True)
            lookup.cache.forget(lookup.reference)
            lookup = find_model(settings, model, use_cache=False)
            found = lookup.result()
            estimator = load(found)
    except (RegistryError, OSError, ValueError) as exc:
        message = f"cannot load model {lookup.reference}: {exc}"
        err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return estimator, found.uri, found.version
