"""Monitoring reads only the champion's feature columns (issue 13, item 9), injected on real runs.

A later export gains a column the champion never saw: an id of text values, or of integers. Before the
fix, `monitor_drift` read every column of the day: the text id failed the day as "non-numeric", and a
numeric id was then expected in every day of the champion's window, so the task blamed an OLDER day
for a missing column. Right: the day and the window are read with the champion's columns only, like
scoring; a champion column missing from the day names that day's file, on the first try.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.faults.conftest import CHAT, TOKEN, environment, runner_for, sent
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

WINDOW = days("2025-12-01", 7)
LATER = days("2025-12-08", 3)


@dataclass
class Home:
    runner: Any
    tg: Any
    layout: Any
    ledger_path: Path
    columns: list[str]  # the champion's feature columns


@pytest.fixture(scope="module")
def home(tmp_path_factory, airflow_home, tg) -> Iterator[Home]:  # type: ignore[no-untyped-def]
    """A champion trained on seven days, and three later days landed as the generator writes them."""
    root = tmp_path_factory.mktemp("monitor-columns")
    with environment(root / "home", TG_TOKEN=TOKEN, TG_CHAT=CHAT, TG_API_URL=tg.url):
        from retrain.data.generate import generate_and_write
        from retrain.layout import Layout
        from retrain.registry import Registry
        from retrain.scoring import feature_columns
        from retrain.settings import load_settings

        settings = load_settings()
        layout = Layout(settings.data_dir)
        for ds in [*WINDOW, *LATER]:
            generate_and_write(settings, layout, ds)
        runner = runner_for(airflow_home)
        deployed = runner.run("retrain", WINDOW[-1])
        assert deployed.ok, deployed.tasks
        registry = Registry.from_settings(settings)
        columns = feature_columns(registry.load_model(registry.champion().uri))
        yield Home(runner, tg, layout, settings.ledger_path, columns)


def _drift_entry(home: Home, ds: str) -> dict | None:
    from retrain.records import ledger

    return ledger.find(home.ledger_path, ds=ds, decision="drift")


def _rewrite(home: Home, ds: str, change: Any) -> bytes:
    """Rewrite raw/{ds}/data.csv as a user's later export would look; returns the new bytes."""
    path = home.layout.raw_data(ds)
    frame = change(pd.read_csv(path))
    frame.to_csv(path, index=False)
    return path.read_bytes()


def _assert_assessed_on_the_champion_columns(home: Home, ds: str, data: bytes, alerts_before: int) -> None:
    result = home.runner.run("monitor_drift", ds)
    assert result.ok, result.tasks
    assert result.tasks["detect_drift"] == "success"
    entry = _drift_entry(home, ds)
    assert entry is not None, "the day was not recorded"
    assert [f["feature"] for f in entry["features"]] == home.columns
    assert home.layout.raw_data(ds).read_bytes() == data, "monitoring must not touch the day"
    assert not home.layout.quarantine(ds).exists()
    assert [a for a in sent(home.tg)[alerts_before:] if "dag=monitor_drift" in a] == []


def test_an_extra_text_id_column_is_not_read(home: Home) -> None:
    # given: a later day whose export starts with a customer id of text values
    ds = LATER[0]
    alerts_before = len(sent(home.tg))
    data = _rewrite(
        home, ds, lambda f: f.assign(customer_id=[f"cust-{i:05d}" for i in range(len(f))])[["customer_id", *f.columns]]
    )
    # when / then: the day is assessed on exactly the champion's columns; nothing fails or is set aside
    _assert_assessed_on_the_champion_columns(home, ds, data, alerts_before)


def test_an_extra_numeric_column_does_not_blame_an_older_day(home: Home) -> None:
    # given: a later day with a numeric row id at the end (the champion's window days have none)
    ds = LATER[1]
    alerts_before = len(sent(home.tg))
    data = _rewrite(home, ds, lambda f: f.assign(row_id=range(len(f))))
    # when / then: the window is read with the champion's columns, so no older day is blamed
    _assert_assessed_on_the_champion_columns(home, ds, data, alerts_before)
    for window_day in WINDOW:
        assert not home.layout.quarantine(window_day).exists()


def test_a_missing_champion_column_names_the_day_itself_on_the_first_try(home: Home) -> None:
    # given: a later day whose export lost one of the champion's columns
    ds = LATER[2]
    missing = home.columns[3]
    alerts_before = len(sent(home.tg))
    _rewrite(home, ds, lambda f: f.drop(columns=[missing]))
    # when
    result = home.runner.run("monitor_drift", ds)
    # then: detect_drift fails at once, and the one alert names this day's file and the column
    assert result.tasks["detect_drift"] == "failed", result.tasks
    alerts = [a for a in sent(home.tg)[alerts_before:] if "dag=monitor_drift" in a]
    assert len(alerts) == 1, alerts
    assert "try=1" in alerts[0], alerts[0]
    assert f"{ds}/data.csv" in alerts[0] and repr(missing) in alerts[0], alerts[0]
    assert not any(f"{day}/data.csv" in alerts[0] for day in WINDOW), alerts[0]
    assert _drift_entry(home, ds) is None
