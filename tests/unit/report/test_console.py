"""`retrain status` as a table: the approval column appears once a person has been asked."""

from __future__ import annotations

from rich.console import Console

from retrain.report.console import history_table, print_retrain_decision, print_run_result


def _render(history: list[dict]) -> str:
    console = Console(width=250, record=True)
    console.print(history_table({"model_name": "m", "history": history}))
    return console.export_text()


def _row(decision: str, approval: dict | None) -> dict:
    return {"ds": "2025-12-08", "trigger": "schedule", "challenger_score": 0.9, "champion_score": None,
            "threshold": 0.8, "decision": decision, "version": None, "ci_low": None, "ci_high": None,
            "reasons": ["r [bold]x[/bold]"], "approved_by": None, "approval": approval}  # fmt: skip


def test_approval_column_only_when_someone_was_asked() -> None:
    assert "approval" not in _render([_row("skip", None)])
    text = _render(
        [
            _row("skip", {"outcome": "rejected", "by": "bob", "at": "t", "comment": None}),
            _row("skip", {"outcome": "timed_out", "by": None, "at": "t", "comment": None}),
            _row("deploy", {"outcome": "approved", "by": "alice", "at": "t", "comment": "ok"}),
        ]
    )
    assert "approval" in text
    assert "bob: rejected" in text and "timed out" in text and "alice: approved" in text
    assert "r [bold]x[/bold]" in text  # a comment's markup is shown, not interpreted


def test_a_run_summary_keeps_its_heading_on_one_line_and_the_tasks_in_run_order() -> None:
    from types import SimpleNamespace

    tasks = {"wait_for_data": "success", "validate_data": "success", "train_model": "failed", "end": "upstream_failed"}
    result = SimpleNamespace(dag_id="retrain", ds="2025-12-21", state="failed", seconds=8.25, tasks=tasks,
                             errors={"train_model": ValueError("bad parameter")}, error=None)  # fmt: skip
    console = Console(width=60, record=True)
    print_run_result(console, result, None)
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0] == "retrain 2025-12-21: failed in 8.2s"  # one line, though wider than the table
    shown = [name for line in lines for name in tasks if f" {name} " in line]
    assert shown == list(tasks)
    assert "train_model failed: ValueError: bad parameter" in text


def test_a_retrain_summary_ends_with_its_decision() -> None:
    def shown(entry: dict | None) -> str:
        console = Console(width=200, record=True)
        print_retrain_decision(console, entry)
        return console.export_text().strip()

    deploy = {"decision": "deploy", "version": "4", "metric": "roc_auc", "challenger_score": 0.86151,
              "champion_score": 0.85093, "ci_low": 0.003, "ci_high": 0.0177, "reasons": ["beats champion"]}  # fmt: skip
    assert shown(deploy) == (
        "decision: deploy version 4; roc_auc 0.8615 vs champion 0.8509, gain interval [+0.0030, +0.0177]"
    )
    skip = {**deploy, "decision": "skip", "version": None, "ci_low": -0.0024, "reasons": ["a", "no sure gain"]}
    assert shown(skip) == (
        "decision: skip; roc_auc 0.8615 vs champion 0.8509, gain interval [-0.0024, +0.0177] (no sure gain)"
    )
    first = {**deploy, "version": "1", "champion_score": None, "ci_low": None, "ci_high": None}
    assert shown(first) == "decision: deploy version 1; roc_auc 0.8615 (no champion yet)"
    nothing_new = {"decision": "skip", "challenger_score": None, "reasons": ["no new labelled data since version 3"]}
    assert shown(nothing_new) == "decision: skip (no new labelled data since version 3)"
    assert shown(None) == ""
