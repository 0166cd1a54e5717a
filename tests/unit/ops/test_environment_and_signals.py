"""retrain.ops.environment (the one list of our environment names) and retrain.ops.signals (a stop that
works whatever signal handler the code inside installs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from retrain.ops.environment import clean_environ, is_airflow, is_setting, own_settings
from retrain.settings import Settings, env_names


def test_every_setting_name_is_known_from_the_settings_fields() -> None:
    names = env_names()
    for field in Settings.model_fields.values():
        for choice in field.validation_alias.choices:  # type: ignore[union-attr]
            assert choice in names
    assert {"RETRAIN_HOME", "TG_TOKEN", "TG_API_URL", "METRIC_THRESHOLD", "MODEL_VERSION"} <= names


def test_clean_environ_removes_ours_and_keeps_the_rest() -> None:
    caller = {
        "RETRAIN_HOME": "/h",
        "RETRAIN_TYPO": "x",
        "TG_TOKEN": "t",
        "MODEL_VERSION": "v",
        "MLFLOW_TRACKING_URI": "u",
        "AIRFLOW_HOME": "/a",
        "AIRFLOW__CORE__EXECUTOR": "x",
        "HOME": "/root",
        "LANG": "C",
        "PATH": "/usr/bin",
    }
    env = clean_environ(caller)
    assert {k for k in env if k != "PATH"} == {"HOME", "LANG"}
    assert env["PATH"].startswith(os.path.dirname(sys.executable) + os.pathsep)
    assert set(own_settings(caller)) == {
        "RETRAIN_HOME",
        "RETRAIN_TYPO",
        "TG_TOKEN",
        "MODEL_VERSION",
        "MLFLOW_TRACKING_URI",
        "AIRFLOW__CORE__EXECUTOR",
    }
    assert is_setting("METRIC_THRESHOLD") and not is_setting("AIRFLOW_HOME")
    assert is_airflow("AIRFLOW_HOME") and is_airflow("AIRFLOW__X__Y") and not is_airflow("AIRFLOWISH")


# A block that replaces SIGTERM's handler with one that does nothing (as Airflow's task runner does),
# then runs "tasks" for a minute, each catching every exception (as a task runner does), with the
# runner's own Python code in between.
STUBBORN = textwrap.dedent(
    """
    import signal, sys, time
    from retrain.ops.signals import Stopped, stop_on_signals

    try:
        with stop_on_signals(grace=10, on_timeout=lambda _: print("timeout", flush=True)):
            signal.signal(signal.SIGTERM, lambda *_: None)
            print("ready", flush=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    sum(range(200_000))  # a task
                except BaseException:
                    pass
                sum(i for i in range(20_000))  # the runner between two tasks
    except Stopped as stop:
        print(f"stopped {stop.signum}", flush=True)
        sys.exit(stop.exit_code)
    sys.exit(0)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_block_that_replaced_the_handler_and_swallows_exceptions(sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    sent = time.monotonic()
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert process.returncode == 128 + sig
    assert out.strip() == f"stopped {int(sig)}"


def test_a_block_without_signal_runs_unchanged_and_restores_the_handlers() -> None:
    from retrain.ops.signals import stop_on_signals

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals():
        value = sum(range(10))
    assert value == 45
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
