"""A command's start and end without the garbage collector walking everything it imported.

A `retrain` command imports Airflow, FastAPI, SQLAlchemy, pydantic and pandas: a few million objects
that live until the process ends. CPython's collector walks all of them on each full collection while
they are being created (imports trigger collections by allocation count), and again while the
interpreter shuts down, where nothing is left to gain. Measured on `retrain run generate_data --date D`
(2 cores, idle, a landed day; one run each way, alternated, twice): 6.2 s → 5.1 s with no collection at
exit, → 4.1 s with none during the start either. The technique is the one CPython documents for
`gc.freeze()`: collect nothing while starting, then move what exists to the permanent generation, so
later collections (a task's own work) walk only new objects.

A DAG run's tasks import their own libraries (scikit-learn, skops, MLflow, matplotlib: about a million
objects more), and each full collection walks everything not frozen, once per 25 % of growth. During a
run only the young generations are collected (`young_collections_only`): garbage that dies young, as a
task's work makes it, is still freed at once; the full collection runs once, when the run ends.
Measured on `retrain run batch_predict --date D` (2 cores, 4 runs each way, alternated): no full
collection during the run 0.99x of no collection at all, and 0.88x of today's collector.

A finished `retrain run` goes further: once its runs are recorded it ends without the interpreter's
teardown at all (`end_without_teardown`, acted on by the command line's entry point), and its last
run skips the full collection at its end, which only that teardown would have profited from.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_registered = False
_without_teardown = False

_NEVER = 1_000_000_000
"""A third-generation threshold no run reaches: CPython starts a full collection only past it."""


def _collect_once_then_freeze() -> None:
    gc.collect()  # garbage cycles are finalized (their __del__ runs), as at a normal shutdown
    gc.freeze()


def skip_collection_at_exit() -> None:
    """At exit, collect once, then freeze what is left, so shutdown's own collections skip it.

    Runs after the `atexit` handlers registered later (logging's flush, Airflow's engine disposal),
    which still run. One collection finalizes every object already unreachable; what is still
    reachable from a module at exit is freed by reference counting as usual, and a reference cycle
    among such objects is left to the operating system, for which CPython gives no guarantee either
    ("It is not guaranteed that __del__() methods are called for objects that still exist when the
    interpreter exits", the data model reference). Call it first thing in a command; once per process
    (a test that runs many commands in one process registers it once).
    """
    global _registered
    if not _registered:
        atexit.register(_collect_once_then_freeze)
        _registered = True


def end_without_teardown() -> None:
    """Let this command's process end at once when the command returns (`leave_if_asked`).

    For a command whose work is over and recorded once it returns (a DAG run: Airflow's database,
    MLflow's store and the files are committed): the interpreter's teardown would only free the few
    million objects its imports made, after a full collection over them; ~0.3 s of each `retrain run`
    on this 2-core machine. Output and logs are still flushed.
    """
    global _without_teardown
    _without_teardown = True


def leave_if_asked(code: int | str | None) -> None:
    """End the process now with `code` (as `sys.exit` would) if `end_without_teardown` was called; else return."""
    if not _without_teardown:
        return
    import sys

    from retrain.ops.signals import exit_now

    if isinstance(code, str):  # sys.exit("message"): the message goes to stderr, the status is 1
        sys.stderr.write(f"{code}\n")
        code = 1
    exit_now(code or 0)


@contextmanager
def starting() -> Iterator[None]:
    """Collect nothing inside the block (imports, parsing, building); then freeze what it made.

    On leaving, even by an error, the collector is back in the state it was in (enabled unless the
    caller had disabled it), and the objects created so far are in the permanent generation
    (`gc.get_freeze_count()`), never collected. Use it around a command's start-up only: a task's own
    work must run with collections on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def young_collections_only(*, collect_on_leaving: bool = True) -> Iterator[None]:
    """Inside the block, collect the young generations only; one full collection on leaving.

    For a DAG run: its tasks' imports would otherwise trigger full collections over every object not
    frozen, while the cycles its work leaves behind are young and still collected. The thresholds are
    restored on leaving, even by an error, then one full collection frees what the block left (unless
    `collect_on_leaving` is False: the process ends right after, see `end_without_teardown`).
    """
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if collect_on_leaving:
            gc.collect()


MODEL_DAGS = ("retrain", "batch_predict")
"""The DAGs whose tasks save or load a model with skops (`monitor_drift` only when its cache misses)."""


def import_model_libraries() -> None:
    """Import skops (and scikit-learn with it) now, before Airflow, when a run will save or load a model.

    At its import skops names every SciPy ufunc by searching each loaded module for it
    (`skops.io._utils.whichmodule`); with Airflow's few thousand modules loaded that search took ~1 s
    of a task's import, against a fraction of it before Airflow. Measured on `retrain run batch_predict
    --date D` (2 cores, 4 runs each way, alternated): 7.0 s → 6.1 s. Call it inside `starting()`.
    """
    import skops.io  # noqa: F401
