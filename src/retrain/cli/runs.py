"""`retrain demo` and `retrain run`: DAG runs in this process, one day or a range, quiet by default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retrain.cli.app import (
    app,
    check_date,
    console,
    err,
    prepare_airflow,
    settings_or_exit,
    usable_or_exit,
)
from retrain.ops.startup import MODEL_DAGS, end_without_teardown, import_model_libraries, starting
from retrain.settings import Settings

WAITS_LOGGER = "retrain.airflow.sensors"
"""What `wait_for_*` waits for: shown on the terminal of a quiet run too (a wait may last hours)."""
DEMO_MIN_IMPROVEMENT = "0.01"
DEMO_LABEL_DELAY_DAYS = "3"
DEMO_MIXED_TYPES = "true"


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
    RETRAIN_SYNTHETIC_MIXED_TYPES is set, the stream carries a text, a boolean and an integer column with
    missing values beside its floats, and the summary shows such rows in the last predictions.
    """
    os.environ.setdefault("RETRAIN_MIN_IMPROVEMENT", DEMO_MIN_IMPROVEMENT)
    os.environ.setdefault("RETRAIN_LABEL_DELAY_DAYS", DEMO_LABEL_DELAY_DAYS)
    os.environ.setdefault("RETRAIN_SYNTHETIC_MIXED_TYPES", DEMO_MIXED_TYPES)
    if os.environ.get("RETRAIN_APPROVAL", "none") != "none":
        err.print("[yellow]note:[/yellow] the demo runs without human approval (RETRAIN_APPROVAL=none)")
    os.environ["RETRAIN_APPROVAL"] = "none"
    settings = settings_or_exit()
    usable_or_exit(settings)
    from retrain.quiet import silence_known_warnings

    silence_known_warnings()
    from retrain.airflow.demo import DemoError, reset_home

    try:
        reset_home(settings.home)
    except DemoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    airflow_home = prepare_airflow(settings)
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
        str | None, typer.Option("--date", help="logical date, YYYY-MM-DD", callback=lambda v: v and check_date(v))
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="first day of a range", callback=lambda v: v and check_date(v))
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="last day of a range", callback=lambda v: v and check_date(v))
    ] = None,
    trigger: Annotated[
        str | None, typer.Option(help="record the retrain as schedule, drift, performance or manual")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="print Airflow's task logs and every warning here too")
    ] = False,
) -> None:
    """Run one DAG for one logical date (--date), or for every day of a range (--start, --end), through
    Airflow in this process; exit 1 if a run failed (a failed day of a range does not stop the others).

    Prints the result and each failed task's error; Airflow's task logs go to
    RETRAIN_HOME/logs/run-DAG-DATE.log (run-DAG.log for a range; the terminal with --verbose).
    """
    from retrain.quiet import show_all_warnings, silence_known_warnings

    # before anything imports retrain.airflow, whose import silences them unless asked not to
    if verbose:
        show_all_warnings()
    else:
        silence_known_warnings()
    days = _days(date, start, end)
    settings = settings_or_exit()
    if dag_id in MODEL_DAGS:
        with starting():  # scikit-learn's and skops' imports, before Airflow's, with no collection over them
            if dag_id == "retrain":  # the only DAG that builds the estimator
                usable_or_exit(settings)
            import_model_libraries()
    prepare_airflow(settings)
    conf = {"trigger": trigger} if trigger else None
    if len(days) > 1 or start:
        _run_range(settings, dag_id, days, conf)
        return
    log_path = settings.home / "logs" / f"run-{dag_id}-{days[0]}.log"
    if verbose:
        result = _run_dag(dag_id, days[0], conf, err)
    else:
        from retrain.console import echo_logger, logs_to_file

        with logs_to_file(log_path) as terminal, echo_logger(WAITS_LOGGER, terminal):
            result = _run_dag(dag_id, days[0], conf, terminal)
    from retrain.report.console import print_run_result

    print_run_result(console, result, None if verbose else log_path)
    if dag_id == "retrain" and result.ok:
        from retrain.records import ledger
        from retrain.report.console import print_retrain_decision

        gate = ("deploy", "skip")
        decided = [e for e in ledger.read(settings.ledger_path) if e.get("ds") == days[0] and e.get("decision") in gate]
        print_retrain_decision(console, decided[-1] if decided else None)
    end_without_teardown()  # the run is recorded; freeing Airflow's and MLflow's objects one by one gains nothing
    if not result.ok:
        raise typer.Exit(1)


def _runner(dag_id: str, errors: Console) -> Any:
    """The DAGs parsed once; an unknown `dag_id` prints one line to `errors` and exits 2."""
    from retrain.ops.home import project_dags_folder

    with starting():  # importing Airflow and parsing the DAGs: no collection over what they create
        from retrain.airflow.runner import DagRunner

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
        return runner.run(dag_id, ds, conf, last=True)
    except Stopped as stop:
        errors.print(f"[red]error:[/red] {stop}: the {dag_id} run of {ds} was marked failed; run it again to finish")
        exit_now(stop.exit_code)
    except RunInProgressError as exc:
        from rich.markup import escape

        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _run_range(
    settings: Settings, dag_id: str, days: list[str], conf: dict[str, Any] | None, runner: Any = None
) -> None:
    """Run `dag_id` for each of `days` with a progress bar, task logs to a file, then a summary table.

    Exit 1 when any day failed (each failed day is listed with its failed tasks or its error).
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from retrain.console import echo_logger, logs_to_file
    from retrain.notify import first_line
    from retrain.ops.signals import Stopped, exit_now

    log_path = settings.home / "logs" / f"run-{dag_id}.log"
    columns = (TextColumn(f"[bold]{dag_id}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with logs_to_file(log_path) as terminal, echo_logger(WAITS_LOGGER, terminal):
        terminal.print(f"{dag_id}: {len(days)} day(s), {days[0]} to {days[-1]}; task logs go to {log_path}")
        runner = runner or _runner(dag_id, terminal)  # Airflow's start-up logs (a first migration) go to the file
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
    # A line of its own, not the table's title: a title wider than the table wraps in the middle.
    console.print(
        f"[bold]{dag_id}[/bold]: {len(results) - len(failed)} of {len(results)} day(s) succeeded in {seconds:.1f}s "
        f"({seconds / len(results):.2f} s/day)",
        soft_wrap=True,
        highlight=False,
    )
    table = Table()
    for column in ("date", "state", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("failed tasks / error", overflow="fold")  # a path is folded, never cut
    for result in results:
        # the tasks that failed with an error (not the ones downstream that could not run), else all
        failing = [t for t in result.failed_tasks() if t in result.errors] or result.failed_tasks()
        why = result.error or "; ".join(
            f"{task}: {first_line(result.errors[task], limit=0)}" if task in result.errors else task for task in failing
        )
        table.add_row(result.ds, _coloured(result.state), f"{result.seconds:.1f}", escape(why))
    console.print(table)
    end_without_teardown()  # every day is recorded (see `run`)
    if failed:
        err.print(
            f"[red]{len(failed)} day(s) failed[/red]: {', '.join(r.ds for r in failed)} "
            f"(task logs in {log_path}); run a day again with `retrain run {dag_id} --date D`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
