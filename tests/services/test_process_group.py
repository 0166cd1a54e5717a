"""The process supervision that `retrain up` and the local topology share: fast, no services needed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from retrain.ops.supervisor import ProcessGroup, ServiceError, free_port, wait_until
from tests.services.topology import probe_services

# A parent that starts a child in its own group and a grandchild in its own session, then waits:
# stopping must reach all three.
TREE = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print("started", flush=True)
time.sleep(600)
"""


def test_stop_ends_every_process_of_every_group(tmp_path: Path) -> None:
    # given: two programs, one with descendants that left its process group
    group = ProcessGroup(tmp_path)
    group.start("tree", [sys.executable, "-c", TREE], dict(os.environ))
    group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], dict(os.environ))
    wait_until("the tree", lambda: "started" in group.log_path("tree").read_text(), 30, group)
    group.snapshot()
    assert len(group.leftovers()) == 4

    # when: the group stops
    started = time.monotonic()
    group.stop(timeout=10)

    # then: nothing is left, and SIGTERM was enough (no wait for the SIGKILL deadline)
    assert group.leftovers() == []
    assert time.monotonic() - started < 10


def test_a_dead_service_is_reported_with_its_log(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path)
    group.start("broken", [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"], dict(os.environ))
    with pytest.raises(ServiceError, match=r"broken exited with code 3(.|\n)*bad config"):
        wait_until("never", lambda: False, 30, group)
    group.stop()


def test_a_failing_one_shot_command_raises(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path)
    with pytest.raises(ServiceError, match="migrate failed with exit code 2"):
        group.run("migrate", [sys.executable, "-c", "raise SystemExit(2)"], dict(os.environ), timeout=30)
    group.stop()


def test_services_that_do_not_answer_are_named() -> None:
    port = free_port()
    reason = probe_services(f"postgresql://postgres@127.0.0.1:{port}/postgres", "redis://127.0.0.1:6379")
    assert reason is not None and reason.startswith(
        f"PostgreSQL does not answer at postgresql://postgres@127.0.0.1:{port}"
    )
