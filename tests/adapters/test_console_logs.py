"""What `dag.test()` prints: the idle loop once per change."""

from __future__ import annotations

import logging

from retrain.airflow.console_logs import CollapseIdleLoop


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("airflow.sdk.definitions.dag", logging.WARNING, "dag.py", 1, msg, args, None)


def test_the_idle_loop_says_each_change_once() -> None:
    collapse = CollapseIdleLoop()
    idle = "No tasks to run. unrunnable tasks: %s"
    kept = [
        collapse.filter(r)
        for r in (
            _record(idle, {"wait"}),
            _record(idle, {"wait"}),
            _record(idle, {"wait"}),
            _record("[DAG TEST] starting task_id=%s", "train"),
            _record(idle, {"wait", "train"}),
            _record(idle, {"wait", "train"}),
        )
    ]
    assert kept == [True, False, False, True, True, False]


def test_the_same_waiting_tasks_in_another_order_are_no_change() -> None:
    from types import SimpleNamespace

    collapse = CollapseIdleLoop()
    a, b = SimpleNamespace(task_id="a", map_index=-1), SimpleNamespace(task_id="b", map_index=-1)
    idle = "No tasks to run. unrunnable tasks: %s"
    assert collapse.filter(_record(idle, [a, b]))
    assert not collapse.filter(_record(idle, [b, a]))
    assert collapse.filter(_record(idle, [b]))
