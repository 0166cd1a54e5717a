"""Waiting for a day: the deferrable sensor and its trigger, and the day a run is about (RUN_DAY)."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import jinja2
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from retrain.airflow.assets import RUN_DAY
from retrain.airflow.sensors import DayLandedSensor
from retrain.airflow.triggers import DayLandedTrigger
from retrain.data.load import quarantine_day
from retrain.layout import Layout
from retrain.settings import load_settings

DS = "2025-12-05"


def _first_event(trigger: DayLandedTrigger) -> dict:
    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_the_run_day_is_the_partition_key_else_the_logical_date() -> None:
    template = jinja2.Template(RUN_DAY)
    assert template.render(dag_run=SimpleNamespace(partition_key=DS), ds="2025-12-31") == DS
    assert template.render(dag_run=SimpleNamespace(partition_key=None), ds="2025-12-31") == "2025-12-31"


def test_the_trigger_fires_on_landing_on_quarantine_and_at_its_deadline(tmp_path) -> None:
    layout = Layout(tmp_path)
    path = str(layout.raw_data(DS))
    # nothing there: it waits until its deadline, then says which file did not land
    assert _first_event(DayLandedTrigger(str(tmp_path), DS, path, 0.05, time.time() + 0.2)) == {
        "status": "timeout",
        "path": path,
    }
    # quarantined: it fires at once with the reason
    quarantine_day(layout, DS, "a bad header", [])
    event = _first_event(DayLandedTrigger(str(tmp_path), DS, path, 60, time.time() + 600))
    assert event["status"] == "quarantined" and event["reason"].startswith("a bad header")
    # landed (even after an earlier quarantine): it fires with the path
    layout.raw(DS).mkdir(parents=True)
    layout.raw_data(DS).write_text("f00\n1\n")
    assert _first_event(DayLandedTrigger(str(tmp_path), DS, path, 60, time.time() + 600))["status"] == "landed"
    # and it serialises to what the triggerer rebuilds it from
    classpath, kwargs = DayLandedTrigger(str(tmp_path), DS, path, 1, 2).serialize()
    assert classpath == "retrain.airflow.triggers.DayLandedTrigger" and DayLandedTrigger(**kwargs).path == path


def test_the_sensor_names_its_file_defers_and_fails_at_once_on_a_quarantined_day(retrain_env, caplog) -> None:
    layout = Layout(load_settings().data_dir)
    sensor = DayLandedSensor(task_id="wait_for_data", ds=DS, part="features", poke_interval=5, timeout=60)
    caplog.set_level(logging.INFO, logger="retrain.airflow.sensors")
    # not there yet: it defers to the triggerer (no worker slot), waiting for the day's data.csv
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert isinstance(deferred.value.trigger, DayLandedTrigger)
    assert deferred.value.trigger.path == str(layout.raw_data(DS))
    assert f"waiting for {layout.raw_data(DS)}" in caplog.text
    assert "a look every 5 s, for at most 60 s" in caplog.text
    # a timeout shorter than the interval: the trigger looks again at the deadline, and the log says so
    with pytest.raises(TaskDeferred):
        DayLandedSensor(task_id="wait_for_data", ds=DS, part="features", poke_interval=60, timeout=1).execute({})
    assert "a look every 1 s, for at most 1 s" in caplog.text
    # quarantined: it fails at once (no retry), with the reason and how to land it again
    quarantine_day(layout, DS, "the header has 3 columns", [])
    with pytest.raises(AirflowFailException, match="is in quarantine.*the header has 3 columns.*generate_data"):
        sensor.execute({})
    # the trigger's events resume the task the same way
    with pytest.raises(AirflowSensorTimeout, match="did not land within 60 s"):
        sensor.execute_complete({}, {"status": "timeout", "path": str(layout.raw_data(DS))})
    labels = DayLandedSensor(task_id="wait_for_labels", ds=DS, part="labels", timeout=60)
    layout.raw(DS).mkdir(parents=True, exist_ok=True)
    layout.raw_target(DS).write_text("target\n1\n")
    assert labels.execute({}) == str(layout.raw_target(DS))


def test_a_quiet_run_shows_a_wait_and_its_end_but_nothing_for_a_file_found_at_once(retrain_env, caplog) -> None:
    import io

    from rich.console import Console

    from retrain.console import echo_logger

    layout = Layout(load_settings().data_dir)
    sensor = DayLandedSensor(task_id="wait_for_data", ds=DS, part="features", poke_interval=5, timeout=60)
    caplog.set_level(logging.INFO, logger="retrain.airflow.sensors")
    terminal = io.StringIO()
    with echo_logger("retrain.airflow.sensors", Console(file=terminal, width=300)):
        with pytest.raises(TaskDeferred):
            sensor.execute({})  # not there: the wait is shown
        sensor.execute_complete({}, {"status": "landed", "path": str(layout.raw_data(DS))})  # and its end
        shown_while_waiting = terminal.getvalue()
        layout.raw(DS).mkdir(parents=True)
        layout.raw_data(DS).write_text("f00\n1\n")
        assert sensor.execute({}) == str(layout.raw_data(DS))  # there at once: a line in the log only
    assert f"waiting for {layout.raw_data(DS)}" in shown_while_waiting
    assert f"found {layout.raw_data(DS)}" in shown_while_waiting
    assert terminal.getvalue() == shown_while_waiting
    assert caplog.text.count(f"found {layout.raw_data(DS)}") == 2  # the task log has both
