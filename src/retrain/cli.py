"""The `retrain` command: run the demo, run one DAG, show status, promote, roll back, score a file.

Imports are lazy: `retrain --help` must not pay for Airflow, MLflow or scikit-learn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retrain.settings import Settings, SettingsError, load_settings

DEMO_MIN_IMPROVEMENT = "0.01"
DEMO_LABEL_DELAY_DAYS = "3"
DEMO_MIXED_TYPES = "true"


class _RedactedErrors(typer.Typer):
    """The app with one last handler: an unexpected error prints one redacted `error:` line, exit 1.

    A traceback can quote a URL with its password (MLflow's "API request to http://user:pw@host
    failed"); the redacted traceback goes to `RETRAIN_HOME/logs/cli-error.log` instead of the terminal.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # SystemExit (typer.Exit, click's exits) is not an Exception: it passes
            import traceback

            from rich.markup import escape

            from retrain.notify import first_line
            from retrain.secrets import redact, secret_values

            try:
                settings: Settings | None = load_settings()
                secrets = secret_values(settings)
            except Exception:  # the settings themselves may be what failed: mask URL passwords only
                settings, secrets = None, []
            where = ""
            if settings is not None:
                log_path = settings.home / "logs" / "cli-error.log"
                try:
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    log_path.write_text(redact(traceback.format_exc(), secrets), encoding="utf-8")
                    where = f" (traceback in {log_path})"
                except OSError:
                    pass
            err.print(f"[red]error:[/red] {escape(first_line(exc, secrets) + where)}", highlight=False, soft_wrap=True)
            raise SystemExit(1) from None


app = _RedactedErrors(
    help="Automated, gated ML retraining and batch scoring on Airflow 3 and MLflow 3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    from retrain.ops.home import relocate

    relocate(settings)  # a home that was moved or copied uses its own files only, from the first command on
    return settings


def _airflow(settings: Settings) -> Path:
    from retrain.ops.home import prepare_airflow_home

    return prepare_airflow_home(settings)


def _check_date(value: str) -> str:
    from retrain.layout import check_ds

    try:
        return check_ds(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def demo() -> None:
    """Simulate RETRAIN_DEMO_DAYS days through the real DAGs, with drift part-way, and show what happened.

    Unless RETRAIN_MIN_IMPROVEMENT is set, the demo asks the lower bound of the challenger − champion
    interval to reach 0.01: a gain worth a new model, as a team would ask. With the default 0.0 every
    demo retrain deploys, and rightly so: each is surely better (a longer window, then the drift), which
    the interval confirms on the demo's 7,000-row holdouts; the tasks read it from the environment.

    The demo is automatic (`RETRAIN_APPROVAL=none`): a simulated timeline has nobody to approve its
    deploys, and each retrain would wait `RETRAIN_APPROVAL_TIMEOUT` for one. Unless
    RETRAIN_LABEL_DELAY_DAYS is set, labels land 3 days after their features, as in production; unless
    RETRAIN_SYNTHETIC_MIXED_TYPES is set, the stream carries a text, a boolean and an integer column with gaps.
    With RETRAIN_SYNTHETIC_MIXED_TYPES=true the stream holds text, boolean and integer columns with
    missing values beside its floats, and the summary shows such rows in the last predictions.
    """
    os.environ.setdefault("RETRAIN_MIN_IMPROVEMENT", DEMO_MIN_IMPROVEMENT)
    os.environ.setdefault("RETRAIN_LABEL_DELAY_DAYS", DEMO_LABEL_DELAY_DAYS)
    os.environ.setdefault("RETRAIN_SYNTHETIC_MIXED_TYPES", DEMO_MIXED_TYPES)
    if os.environ.get("RETRAIN_APPROVAL", "none") != "none":
        err.print("[yellow]note:[/yellow] the demo runs without human approval (RETRAIN_APPROVAL=none)")
    os.environ["RETRAIN_APPROVAL"] = "none"
    settings = _settings()
    _check_usable(settings)
    from retrain.quiet import silence_known_warnings

    silence_known_warnings()
    from retrain.airflow.demo import DemoError, reset_home

    try:
        reset_home(settings.home)
    except DemoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    airflow_home = _airflow(settings)
    log_path = settings.home / "logs" / "demo.log"
    console.print(
        f"[bold]retrain demo[/bold]: {settings.demo_days} days from {settings.demo_start}, "
        f"drift from {settings.drift_start} (strength {settings.drift_strength}), "
        f"{settings.rows_per_day} rows/day, labels {settings.label_delay_days} days later; "
        f"gate: {settings.metric} ≥ {settings.metric_threshold}, "
        + (
            f"{settings.gate_confidence:.0%} interval of the gain ≥ {settings.min_improvement} and > 0"
            if settings.gate_method == "bootstrap"
            else f"improvement ≥ {settings.min_improvement}"
        )
    )
    console.print(f"Airflow home {airflow_home}; task logs go to {log_path}")
    from retrain.console import logs_to_file

    with logs_to_file(log_path) as terminal:
        from retrain.airflow.demo import run_timeline
        from retrain.ops.signals import Stopped, exit_now

        try:
            timeline = run_timeline(settings, terminal, log_path)
        except DemoError as exc:
            terminal.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        except Stopped as stop:
            terminal.print(f"[red]error:[/red] {stop}: the demo stopped; `retrain demo` starts it again")
            exit_now(stop.exit_code)
    from retrain.report.console import print_demo_summary

    print_demo_summary(console, settings, timeline)


def _days(date: str | None, start: str | None, end: str | None) -> list[str]:
    """The logical dates asked for: `--date D`, or every day from `--start` to `--end` inclusive."""
    from datetime import date as day
    from datetime import timedelta

    if date and (start or end):
        raise typer.BadParameter("give --date, or --start and --end, not both", param_hint="--date")
    if date:
        return [date]
    if not (start and end):
        raise typer.BadParameter("give --date D, or a range with --start D1 --end D2", param_hint="--date")
    first, last = day.fromisoformat(start), day.fromisoformat(end)
    if last < first:
        raise typer.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


_STATE_COLOURS = {"success": "green", "failed": "red", "upstream_failed": "red", "skipped": "yellow"}


def _coloured(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "")
    return f"[{colour}]{state}[/{colour}]" if colour else state


@app.command()
def run(
    dag_id: Annotated[
        str, typer.Argument(help="generate_data, retrain, batch_predict, monitor_drift or monitor_performance")
    ],
    date: Annotated[
        str | None, typer.Option("--date", help="logical date, YYYY-MM-DD", callback=lambda v: v and _check_date(v))
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="first day of a range", callback=lambda v: v and _check_date(v))
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="last day of a range", callback=lambda v: v and _check_date(v))
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="record the retrain as schedule, drift or manual")] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="print Airflow's task logs and every warning here too")
    ] = False,
) -> None:
    """Run one DAG for one logical date (--date), or for every day of a range (--start, --end), through
    Airflow in this process; exit 1 if a run failed (a failed day of a range does not stop the others).

    Prints the result and each failed task's error; Airflow's task logs go to
    RETRAIN_HOME/logs/run-DAG-DATE.log (run-DAG.log for a range; the terminal with --verbose).
    """
    days = _days(date, start, end)
    settings = _settings()
    if dag_id == "retrain":  # the only DAG that builds the estimator (the others skip scikit-learn's import)
        _check_usable(settings)
    _airflow(settings)
    if not verbose:
        from retrain.quiet import silence_known_warnings

        silence_known_warnings()
    conf = {"trigger": trigger} if trigger else None
    if len(days) > 1 or start:
        _run_range(settings, _runner(dag_id, err), dag_id, days, conf)
        return
    log_path = settings.home / "logs" / f"run-{dag_id}-{days[0]}.log"
    if verbose:
        result = _run_dag(dag_id, days[0], conf, err)
    else:
        from retrain.console import logs_to_file

        with logs_to_file(log_path) as terminal:
            result = _run_dag(dag_id, days[0], conf, terminal)
    from retrain.report.console import print_run_result

    print_run_result(console, result, None if verbose else log_path)
    if not result.ok:
        raise typer.Exit(1)


def _runner(dag_id: str, errors: Console) -> Any:
    """The DAGs parsed once; an unknown `dag_id` prints one line to `errors` and exits 2."""
    from retrain.airflow.runner import DagRunner
    from retrain.ops.home import project_dags_folder

    runner = DagRunner(project_dags_folder(), Path(os.environ["AIRFLOW_HOME"]))
    try:
        runner.dag(dag_id)
    except KeyError as exc:
        errors.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(2) from None
    return runner


def _run_dag(dag_id: str, ds: str, conf: dict[str, Any] | None, errors: Console) -> Any:
    """Run `dag_id` for `ds`; a run in progress elsewhere or a stop prints one line to `errors` and exits."""
    from retrain.airflow.runner import RunInProgressError
    from retrain.ops.signals import Stopped, exit_now

    runner = _runner(dag_id, errors)
    try:
        return runner.run(dag_id, ds, conf)
    except Stopped as stop:
        errors.print(f"[red]error:[/red] {stop}: the {dag_id} run of {ds} was marked failed; run it again to finish")
        exit_now(stop.exit_code)
    except RunInProgressError as exc:
        from rich.markup import escape

        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _check_usable(settings: Settings) -> None:
    """The settings that only a real import can check (the estimator and its parameters): exit 2."""
    try:
        from retrain.settings import check_usable

        check_usable(settings)
    except SettingsError as exc:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _run_range(settings: Settings, runner: Any, dag_id: str, days: list[str], conf: dict[str, Any] | None) -> None:
    """Run `dag_id` for each of `days` with a progress bar, task logs to a file, then a summary table.

    Exit 1 when any day failed (each failed day is listed with its failed tasks or its error).
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from retrain.console import logs_to_file
    from retrain.ops.signals import Stopped, exit_now

    log_path = settings.home / "logs" / f"run-{dag_id}.log"
    columns = (TextColumn(f"[bold]{dag_id}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with logs_to_file(log_path) as terminal:
        terminal.print(f"{dag_id}: {len(days)} day(s), {days[0]} to {days[-1]}; task logs go to {log_path}")
        with Progress(*columns, TimeElapsedColumn(), console=terminal) as progress:
            bar = progress.add_task(days[0], total=len(days))

            def advance(result: Any) -> None:
                position = days.index(result.ds)
                upcoming = days[position + 1] if position + 1 < len(days) else "done"
                failed = "" if result.ok else f" ({result.ds} failed)"
                progress.update(bar, advance=1, description=f"{upcoming}{failed}")

            try:
                results = runner.run_range(dag_id, days, conf, on_result=advance)
            except Stopped as stop:
                terminal.print(f"[red]error:[/red] {stop}: the range stopped; the running day was marked failed")
                exit_now(stop.exit_code)
    failed = [r for r in results if not r.ok]
    seconds = sum(r.seconds for r in results)
    table = Table(
        title=f"{dag_id}: {len(results) - len(failed)} of {len(results)} day(s) succeeded in {seconds:.1f}s "
        f"({seconds / len(results):.2f} s/day)"
    )
    for column in ("date", "state", "seconds", "failed tasks / error"):
        table.add_column(column)
    for result in results:
        why = result.error or ", ".join(result.failed_tasks())
        table.add_row(result.ds, _coloured(result.state), f"{result.seconds:.1f}", escape(why))
    console.print(table)
    if failed:
        err.print(
            f"[red]{len(failed)} day(s) failed[/red]: {', '.join(r.ds for r in failed)} "
            f"(task logs in {log_path}); run a day again with `retrain run {dag_id} --date D`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """The champion and every decision so far (oldest first)."""
    settings = _settings()
    from retrain.records.status import build_status

    data = build_status(settings)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from retrain.report.console import print_status

    print_status(console, data, None if data["champion"] else _deleted_champion(settings))


def _deleted_champion(settings: Settings) -> str | None:
    """Why there is no champion when its version was deleted from the registry (the alias went with it)."""
    registry = _registry(settings)
    gone = registry.deleted_champion()
    if gone is None:
        return None
    versions = [v["version"] for v in registry.versions()]
    listing = f"registered versions: {', '.join(versions)}" if versions else "no version is registered"
    return (
        f"none: version {gone}, the last champion of {settings.model_name}, was deleted from the registry; "
        f"make another the champion with `retrain promote VERSION` ({listing})"
    )


def _registry(settings: Settings) -> Any:
    from retrain.registry import Registry

    return Registry.from_settings(settings)


def _promotion(settings: Settings) -> Any:
    from retrain.jobs.promote import PromotionJob
    from retrain.layout import Layout

    return PromotionJob(settings, Layout(settings.data_dir))


def _report_move(settings: Settings, move: Any) -> None:
    """One line: what changed, or that nothing needed to (then nothing was recorded or announced)."""
    name = settings.model_name
    if not move.changed:
        console.print(f"{move.kind}: version {move.version} is already the champion of {name}; nothing changed")
        return
    console.print(f"{move.kind}: {name} champion is now version {move.version} (was {move.previous_version})")


def _refused(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="registry version to make champion")],
    reason: Annotated[str, typer.Option(help="why, for the history")] = "promoted by hand",
) -> None:
    """Make VERSION the champion (recorded in the history, and notified)."""
    from retrain.errors import RetrainError

    settings = _settings()
    try:
        move = _promotion(settings).promote(version, reason)
    except RetrainError as exc:
        raise _refused(exc) from None
    _report_move(settings, move)


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option("--to", help="version to restore (default: the previous champion)")] = None,
    reason: Annotated[str, typer.Option(help="why, for the history")] = "rolled back by hand",
) -> None:
    """Move the champion back to the previous champion, or to --to VERSION."""
    from retrain.errors import RetrainError

    settings = _settings()
    try:
        move = _promotion(settings).rollback(to, reason)
    except RetrainError as exc:
        raise _refused(exc) from None
    _report_move(settings, move)


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
    settings = _settings()
    for path, what in ((input_path, "--input"), (output_path, "--output")):
        if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise typer.BadParameter(f"{path} must end in .csv or .parquet", param_hint=what)
    # skops before MLflow: on import skops looks each SciPy ufunc up in every loaded module (its
    # `whichmodule`), so with MLflow's ~1,500 modules loaded first its import takes ~0.6 s longer
    # (measured: `retrain predict` on a 10-row file 5.3 → 4.7 s at load ~6).
    import skops.io  # noqa: F401
    from pyarrow import ArrowInvalid
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from retrain.registry import RegistryError
    from retrain.scoring.engine import ScoringInputError, score_file

    registry = _registry(settings)
    version: str | None = None
    if model is None:
        champion = registry.champion()
        if champion is None:
            err.print(
                f"[red]error:[/red] no champion for {settings.model_name!r} yet: run the retrain DAG first, "
                "or pass --model URI"
            )
            raise typer.Exit(2)
        model, version = champion.uri, champion.version
    try:
        if version is None:
            pinned = registry.pin(model)  # an alias is resolved once, to the version it names now
            model, version = pinned.uri, pinned.version
        estimator = registry.load_model(model, allow_unverified=allow_unverified or None)
    except (RegistryError, OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {escape(f'cannot load model {model}: {exc}')}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
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
        raise _refused(exc) from None
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
        raise _refused(exc) from None  # exit 2: the check could not run, which is not "the model is worse"
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


@app.command()
def up() -> None:
    """The Airflow UI and the MLflow UI on this project (login required), in the foreground; Ctrl-C stops all."""
    settings = _settings()
    from retrain.ops.up import main

    raise typer.Exit(main(settings))


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings and where they lead (secrets masked); exit 2 if one is unusable."""
    settings = _settings()
    _check_usable(settings)
    data = {**settings.public_dict(), "effective": settings.effective_locations()}
    typer.echo(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    app()
