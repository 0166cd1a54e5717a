"""`retrain run DAG --start D1 --end D2` without Airflow: the days asked for, and the range's summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import typer
from rich.console import Console

from retrain.cli import runs as cli
from retrain.settings import load_settings


@dataclass
class FakeResult:
    ds: str
    state: str
    seconds: float = 0.5
    error: str | None = None
    tasks: dict[str, str] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def failed_tasks(self) -> list[str]:
        return sorted(k for k, v in self.tasks.items() if v == "failed")


class FakeRunner:
    """Runs nothing: the middle day fails in a task, the last cannot start; every day is reported."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run_range(self, dag_id, days, conf, on_result):  # type: ignore[no-untyped-def]
        results = []
        for i, ds in enumerate(days):
            self.seen.append(ds)
            if i == 1:
                result = FakeResult(
                    ds,
                    "failed",
                    tasks={"generate": "failed"},
                    errors={"generate": ValueError("the header has 3 columns")},
                )
            elif i == len(days) - 1:
                result = FakeResult(ds, "failed", error="RunInProgressError: a run is already in progress")
            else:
                result = FakeResult(ds, "success", tasks={"generate": "success"})
            on_result(result)
            results.append(result)
        return results


def test_days_are_one_date_or_an_inclusive_range() -> None:
    assert cli._days("2025-12-30", None, None) == ["2025-12-30"]
    assert cli._days(None, "2025-12-30", "2026-01-02") == ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]
    for bad in (("2025-12-01", "2025-12-01", "2025-12-02"), (None, "2025-12-02", "2025-12-01"), (None, None, None)):
        with pytest.raises(typer.BadParameter):
            cli._days(*bad)


def test_a_range_reports_every_day_and_exits_1_when_one_failed(retrain_env, monkeypatch) -> None:
    # given a range of four days whose second and last fail
    out = Console(record=True, width=140)
    monkeypatch.setattr(cli, "console", out)
    monkeypatch.setattr(cli, "err", out)
    runner = FakeRunner()
    days = cli._days(None, "2025-12-01", "2025-12-04")
    # when
    with pytest.raises(typer.Exit) as exited:
        cli._run_range(load_settings(), "generate_data", days, None, runner)
    # then: every day ran, the summary names each failure, and the exit code says one failed
    assert exited.value.exit_code == 1 and runner.seen == days
    text = out.export_text()
    assert "generate_data: 2 of 4 day(s) succeeded in 2.0s (0.50 s/day)" in text.splitlines()  # one whole line
    assert "2025-12-02 │ failed" in text and "generate: ValueError: the header has 3 columns" in " ".join(text.split())
    assert "RunInProgressError" in text
    assert "2 day(s) failed: 2025-12-02, 2025-12-04" in text
