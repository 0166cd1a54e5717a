"""Rich tables of what happened: the retrain history, the notifications, where the outputs are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from retrain.settings import Settings


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _interval(low: Any, high: Any) -> str:
    """The challenger − champion interval as `[-0.0031, +0.0152]`, or — (point rule, no champion)."""
    return "—" if low is None or high is None else f"[{low:+.4f}, {high:+.4f}]"


def _approval(approval: dict[str, Any] | None) -> str:
    """A person's answer in a few characters: `alice: approved`, `bob: rejected`, `timed out`, or —."""
    if not approval:
        return "—"
    if approval.get("outcome") == "timed_out":
        return "timed out"
    return f"{escape(str(approval.get('by')))}: {approval.get('outcome')}"


REASONS_MIN_WIDTH = 40
"""Fewer columns than this left for the reasons, and `retrain status` stacks each decision instead."""
_COLUMNS = (  # header, header broken in two (the compact layout)
    ("date", "date"),
    ("trigger", "trigger"),
    ("challenger", "chal-\nlenger"),
    ("champion", "cham-\npion"),
    ("gain interval", "gain\ninterval"),
    ("threshold", "thres-\nhold"),
    ("decision", "deci-\nsion"),
    ("version", "ver-\nsion"),
    ("approval", "appro-\nval"),
)
_DECISION_COLOURS = {"deploy": "green", "skip": "yellow", "promote": "cyan", "rollback": "magenta"}


def history_table(data: dict[str, Any], width: int = 200) -> Table:
    """The decisions, one row each, every column kept at any `width` from 80 up: one line of headers
    when the reasons keep REASONS_MIN_WIDTH columns, else headers broken in two and no padding, else
    (80 columns) one stacked block per decision, its fields labelled with the same headers and the
    reasons wrapped across the width. An `approval` column appears once a person has been asked
    (`RETRAIN_APPROVAL=required`)."""
    title = f"Retrains of {data['model_name']} (scores on the same fresh holdout)"
    approvals = any(row.get("approval") for row in data["history"])
    columns = _COLUMNS if approvals else _COLUMNS[:-1]
    rows = [(_cells(row, approvals), _reasons(row)) for row in data["history"]]
    for compact in (False, True):
        headers = [short if compact else name for name, short in columns]
        cells = [[c.replace(", +", ",\n+") if compact else c for c in plain] for plain, _ in rows]
        padding = 0 if compact else 2
        used = sum(
            max(len(line) for text in (header, *(row[i] for row in cells)) for line in text.split("\n")) + padding
            for i, header in enumerate(headers)
        )
        reasons_width = REASONS_MIN_WIDTH if rows else len("reasons")
        if width - used - len(headers) - 2 - padding >= reasons_width:  # the borders, the reasons' padding
            table = Table(title=title, show_lines=True, padding=(0, padding // 2))
            for header in headers:
                table.add_column(header, no_wrap=True)
            table.add_column("reasons", overflow="fold", ratio=1, min_width=reasons_width)
            for row_cells, (_, reasons) in zip(cells, rows, strict=True):
                table.add_row(*_coloured(row_cells), escape(reasons))
            return table
    return _stacked(title, [name for name, _ in columns], rows)


def _stacked(title: str, headers: list[str], rows: list[tuple[list[str], str]]) -> Table:
    """One block per decision: the short fields two to a line, then the approval and reasons across."""
    table = Table(title=title, show_header=False, show_lines=True)
    table.add_column("retrain", overflow="fold")
    label_width = max(len(h) for h in headers)
    for cells, reasons in rows:
        fields = dict(zip(headers, _coloured(cells), strict=True))
        short = Table.grid(padding=(0, 1))
        for _ in range(2):
            short.add_column(style="bold", min_width=label_width)
            short.add_column(no_wrap=True, min_width=18)
        names = [h for h in headers if h != "approval"]
        for first, second in zip(names[::2], names[1::2], strict=True):
            short.add_row(first, fields[first], second, fields[second])
        across = Table.grid(padding=(0, 1))
        across.add_column(style="bold", min_width=label_width)
        across.add_column(overflow="fold")
        if "approval" in fields:
            across.add_row("approval", fields["approval"])
        across.add_row("reasons", escape(reasons))
        table.add_row(Group(short, across))
    return table


def _cells(row: dict[str, Any], approvals: bool) -> list[str]:
    """A decision's short fields as plain text, in `_COLUMNS` order (approval only when there is one)."""
    cells = [
        row.get("ds") or "—",
        row.get("trigger") or "—",
        _fmt(row.get("challenger_score")),
        _fmt(row.get("champion_score")),
        _interval(row.get("ci_low"), row.get("ci_high")),
        _fmt(row.get("threshold")),
        row["decision"],
        row.get("version") or "—",
    ]
    return [*cells, _approval(row.get("approval"))] if approvals else cells


def _coloured(cells: list[str]) -> list[str]:
    """The cells with the decision (the seventh) in its colour."""
    decision = cells[6]
    colour = _DECISION_COLOURS.get(decision)
    return [*cells[:6], f"[{colour}]{decision}[/{colour}]" if colour else decision, *cells[7:]]


def _reasons(row: dict[str, Any]) -> str:
    return "; ".join([*_trained_on(row), *(row.get("reasons") or [])])


def _trained_on(row: dict[str, Any]) -> list[str]:
    """The labelled days a retrain trained on, as the first reason ("trained on 2025-12-01..2025-12-07")."""
    window = row.get("window") or []
    return [f"trained on {'..'.join(dict.fromkeys(window))}"] if window else []


def print_status(console: Console, data: dict[str, Any], no_champion: str | None = None) -> None:
    """`retrain status`: the champion line, then the decisions. `no_champion` explains a missing one."""
    champion = data.get("champion")
    if champion is None and no_champion:
        console.print(f"[bold]champion[/bold]: {escape(no_champion)}", soft_wrap=True, highlight=False)
    elif champion:
        label = f" ({champion['label']})" if champion.get("label") else ""
        console.print(
            f"[bold]champion[/bold]: {data['model_name']} version {champion['version']}{label}, "
            f"{champion['metric']} {champion['score']:.4f}, trained for {champion['ds']}"
        )
    else:
        console.print(f"[bold]champion[/bold]: none yet for {data['model_name']} (run the retrain DAG)")
    console.print(history_table(data, console.width))
    if data.get("performance"):
        console.print(performance_table(data))


def performance_table(data: dict[str, Any]) -> Table:
    """The realised metric of each scored day whose labels arrived (`retrain status`: `performance`)."""
    table = Table(title="Realised performance (scored days whose labels arrived)")
    for name in ("date", "version", "metric", "value", "rows"):
        table.add_column(name, no_wrap=True)
    for row in data["performance"]:
        table.add_row(row["ds"], row["version"], row["metric"], _fmt(row.get("value")), str(row["rows"]))
    return table


def print_run_result(console: Console, result: Any, log_path: Path | None) -> None:
    """`retrain run`'s closing summary: a heading line with the run's state, each task's state in the order
    the tasks ran (`RunResult.tasks`), each failed task's error, where the logs are."""
    from retrain.notify import first_line

    colours = {"success": "green", "failed": "red", "upstream_failed": "red", "skipped": "yellow"}

    def coloured(state: str) -> str:
        colour = colours.get(state, "")
        return f"[{colour}]{state}[/{colour}]" if colour else state

    # A line of its own, not the table's title: a title wider than the table wraps in the middle.
    console.print(
        f"[bold]{result.dag_id} {result.ds}[/bold]: {coloured(result.state)} in {result.seconds:.1f}s",
        soft_wrap=True,
        highlight=False,
    )
    table = Table()
    table.add_column("task", overflow="fold")
    table.add_column("state", no_wrap=True)
    for task_id, state in result.tasks.items():
        table.add_row(task_id, coloured(state))
    console.print(table)
    if getattr(result, "error", None):
        console.print(f"[red]error:[/red] {escape(result.error)}", soft_wrap=True, highlight=False)
    for task_id, error in sorted(result.errors.items()):  # one whole line each: the error that matters
        console.print(
            f"[red]{task_id} failed:[/red] {escape(first_line(error, limit=0))}", soft_wrap=True, highlight=False
        )
    if log_path is not None:
        console.print(f"task logs: {log_path}", soft_wrap=True, highlight=False)


def print_retrain_decision(console: Console, entry: dict[str, Any] | None) -> None:
    """After `retrain run retrain`: the gate's decision for the date as the history records it, one line.

    `entry` is the date's `deploy` or `skip` row of the ledger (None: the run decided nothing, e.g. it failed).
    """
    if entry is None:
        return
    metric, challenger, champion = entry.get("metric"), entry.get("challenger_score"), entry.get("champion_score")
    scores = "" if challenger is None else f"; {metric} {challenger:.4f}"
    if challenger is not None:
        scores += " (no champion yet)" if champion is None else f" vs champion {champion:.4f}"
    if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        scores += f", gain interval [{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}]"
    version = f" version {entry['version']}" if entry.get("decision") == "deploy" and entry.get("version") else ""
    reasons = entry.get("reasons") or []
    why = f" ({reasons[-1]})" if entry.get("decision") == "skip" and reasons else ""
    colour = "green" if entry.get("decision") == "deploy" else "yellow"
    console.print(
        f"decision: [{colour}]{entry.get('decision')}[/{colour}]{version}{escape(scores + why)}",
        soft_wrap=True,
        highlight=False,
    )


def _print_mixed_types(console: Console, settings: Settings) -> None:
    """The last scored day: rows whose text `segment` was empty, scored like the others (no hand encoding)."""
    import pandas as pd

    from retrain.layout import Layout

    layout = Layout(settings.data_dir)
    scored = sorted(p.parent.name for p in (settings.data_dir / "predictions").glob("*/predictions.csv"))
    if not scored:
        return
    ds = scored[-1]
    raw = pd.read_csv(layout.raw_data(ds), usecols=["segment", "active"])
    predictions = pd.read_csv(layout.predictions_file(ds))
    gaps = raw["segment"].isna()
    row = int(gaps.idxmax())
    console.print(
        f"Mixed types (RETRAIN_SYNTHETIC_MIXED_TYPES): on {ds}, {int(gaps.sum())} of {len(raw)} rows have no "
        f"`segment` (text) and {int(raw['active'].isna().sum())} no `active` (boolean); all "
        f"{len(predictions)} rows were scored, e.g. row {row} (segment empty): "
        f"prediction {predictions['prediction'][row]}, probability {predictions['probability'][row]:.3f}"
    )


def notifications_table(sent: list[dict[str, Any]]) -> Table:
    """The notifications of the outbox: when, each channel's outcome (one a line), the message wrapped."""
    table = Table(title=f"Notifications sent ({len(sent)})")
    table.add_column("when", no_wrap=True)
    table.add_column("channels", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)  # the rest of the width, 80 columns included
    for item in sent:
        channels = "\n".join(f"{c['channel']}:{'ok' if c['ok'] else 'FAILED'}" for c in item.get("channels", []))
        table.add_row(str(item.get("time", ""))[:19], channels, escape(item.get("text", "")))
    return table


def print_demo_summary(console: Console, settings: Settings, timeline: Any) -> None:
    from retrain.notify import read_outbox
    from retrain.records.status import build_status

    data = build_status(settings)
    console.rule("What happened")
    print_status(console, data)
    decisions = [row["decision"] for row in data["history"]]
    console.print(f"{len(decisions)} retrains: {decisions.count('deploy')} deployed, {decisions.count('skip')} skipped")

    console.print(notifications_table(read_outbox(settings.outbox_path)))

    runs = ", ".join(
        f"{timeline.count(d)} × {d} ({sum(r.seconds for r in timeline.runs if r.dag_id == d):.0f} s)"
        for d in ("generate_data", "retrain", "batch_predict", "monitor_drift", "monitor_performance")
        if timeline.count(d)
    )
    console.print(f"Airflow runs: {runs}, all successful; {timeline.seconds:.0f} s in all")
    data_dir = settings.data_dir
    if settings.synthetic_mixed_types and settings.source is None:
        _print_mixed_types(console, settings)
    console.print("[bold]Outputs[/bold]")
    for label, path in (
        ("raw days", data_dir / "raw"),
        ("train/holdout splits", data_dir / "processed"),
        ("model cards", data_dir / "models"),
        ("predictions", data_dir / "predictions"),
        ("reports", data_dir / "reports"),
        ("decision ledger", settings.ledger_path),
        ("notifications", settings.outbox_path),
        ("MLflow store", settings.mlflow_tracking_uri),
        ("task logs", settings.home / "logs" / "demo.log"),
    ):
        if str(path).startswith("sqlite") or path.exists():
            console.print(f"  {label:22} {path}")
    console.print("Next: `.venv/bin/retrain status`, `make up` for the Airflow and MLflow UIs.")
