"""A command's start-up without collections, and its end without the final ones."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from retrain.ops.startup import skip_collection_at_exit, starting, young_collections_only


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # what a test froze goes back to the collector, for the rest of the session
    gc.enable()


def test_nothing_is_collected_while_starting_and_what_it_made_is_frozen_after() -> None:
    gc.unfreeze()
    before = gc.get_freeze_count()
    with starting():
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]  # tracked containers, created while starting
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)
    assert not any(gc.is_tracked(x) and x in gc.get_objects() for x in made[:3])  # not in any generation


def test_the_collector_is_back_on_after_an_error_while_starting() -> None:
    with pytest.raises(RuntimeError), starting():
        raise RuntimeError("an import failed")
    assert gc.isenabled()


def test_a_collector_the_caller_had_turned_off_stays_off() -> None:
    gc.disable()
    with starting():
        pass
    assert not gc.isenabled()


def test_shutdown_still_runs_the_other_exit_handlers_and_finalizes_garbage(tmp_path) -> None:
    # a process that registers the freeze first, then an exit handler, and drops a reference cycle
    # whose finalizer writes a file (garbage only a collection finalizes: the collector is off)
    finalized, handler = tmp_path / "finalized.txt", tmp_path / "handler.txt"
    script = f"""
import atexit, gc
from retrain.ops.startup import skip_collection_at_exit
skip_collection_at_exit()
atexit.register(lambda: open({str(handler)!r}, "w").write("ran"))
class Holder:
    def __del__(self):
        with open({str(finalized)!r}, "w") as f:
            f.write("finalized")
gc.disable()
h = Holder(); h.me = h
del h
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert handler.read_text() == "ran"
    assert finalized.read_text() == "finalized"


def test_registering_twice_leaves_one_exit_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    import atexit

    from retrain.ops import startup

    registered: list[object] = []
    monkeypatch.setattr(startup, "_registered", False)
    monkeypatch.setattr(atexit, "register", registered.append)
    for _ in range(3):  # three commands run in one process (a test's CLI runner)
        skip_collection_at_exit()
    assert len(registered) == 1  # one collection at exit, however many commands ran


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@contextmanager
def _full_collections() -> Iterator[list[dict]]:
    """The full collections that start inside the block (the list fills as they happen)."""
    started: list[dict] = []

    def count_full(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            started.append(info)

    gc.callbacks.append(count_full)
    try:
        yield started
    finally:
        gc.callbacks.remove(count_full)


def test_a_run_collects_young_garbage_and_does_no_full_collection_until_it_ends() -> None:
    import weakref

    threshold = gc.get_threshold()
    with _full_collections() as full_collections:
        with young_collections_only():
            assert gc.get_threshold()[:2] == threshold[:2] and gc.get_threshold()[2] >= 10**9
            young = weakref.ref(_Node())
            kept = [[] for _ in range(100_000)]  # live allocations: many young collections, and full ones were due
            assert young() is None  # a cycle that died young was collected inside the block
            assert full_collections == []
            left = weakref.ref(_Node())
            del kept
        assert left() is None and len(full_collections) == 1  # the one full collection on leaving
    assert gc.get_threshold() == threshold


def test_the_last_run_of_a_process_leaves_without_a_full_collection() -> None:
    with _full_collections() as full_collections, young_collections_only(collect_on_leaving=False):
        _Node()
    assert full_collections == []


def _end_of_command(tmp_path, asked: bool, code: object) -> tuple[subprocess.CompletedProcess, bool]:
    """A command that prints and logs to a file, then ends with `sys.exit(code)`; did its exit handler run?"""
    handler, log = tmp_path / "handler.txt", tmp_path / "run.log"
    script = f"""
import atexit, logging, sys
from retrain.ops.startup import end_without_teardown, leave_if_asked
atexit.register(lambda: open({str(handler)!r}, "w").write("ran"))
logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
logging.getLogger("run").info("the run is recorded")
print("summary", end="")  # buffered: only a flush gets it out
if {asked}:
    end_without_teardown()
try:
    sys.exit({code!r})
except SystemExit as done:
    leave_if_asked(done.code)
    raise
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert "the run is recorded" in log.read_text()  # the log is flushed either way
    return done, handler.exists()


@pytest.mark.parametrize(("code", "status"), [(0, 0), (1, 1), (None, 0), ("error: bad", 1)])
def test_a_finished_command_ends_at_once_with_its_status_and_its_output(tmp_path, code, status) -> None:
    done, handler_ran = _end_of_command(tmp_path, True, code)
    assert (done.returncode, done.stdout) == (status, "summary")
    assert not handler_ran  # no teardown: the exit handlers did not run
    if isinstance(code, str):
        assert code in done.stderr


def test_a_command_that_did_not_ask_ends_as_usual(tmp_path) -> None:
    done, handler_ran = _end_of_command(tmp_path, False, 3)
    assert (done.returncode, done.stdout, handler_ran) == (3, "summary", True)


def test_the_thresholds_come_back_after_an_error_in_a_run() -> None:
    threshold = gc.get_threshold()
    with pytest.raises(RuntimeError), young_collections_only():
        raise RuntimeError("a task failed")
    assert gc.get_threshold() == threshold


def test_the_model_libraries_are_imported_without_airflow() -> None:
    script = (
        "import sys; from retrain.ops.startup import import_model_libraries; import_model_libraries(); "
        "print('skops.io' in sys.modules, 'sklearn' in sys.modules, 'airflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "False"]
