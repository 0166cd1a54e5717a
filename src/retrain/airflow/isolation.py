"""Run heavy tasks isolated from the scheduler's environment: in-process, another interpreter, or a container.

`RETRAIN_ISOLATION_TRAIN` and `RETRAIN_ISOLATION_SCORE` choose, per task kind:

* `inprocess` (default): a plain TaskFlow task (`@task`), in the worker's own environment.
* `virtualenv`: Airflow's external-python task (`@task.external_python`): a separate interpreter with its
  own dependency set. `RETRAIN_TASK_PYTHON` names it; unset, each kind has its own,
  `$RETRAIN_HOME/venvs/train/bin/python` and `$RETRAIN_HOME/venvs/score/bin/python`, so training and
  scoring can pin different libraries. The interpreter needs this package (and Airflow's task SDK).
* `docker` (`isolation_container`): a TaskFlow task over Airflow's DockerOperator, in
  `RETRAIN_TASK_IMAGE` (deploy/Dockerfile builds one), running
  `python -m retrain.airflow.isolation_container`, with RETRAIN_HOME (and the data folder and source,
  when elsewhere) mounted at the same paths, the settings in its environment and the secrets in its
  private environment (never rendered in the UI or logged). Arguments go in as JSON,
  the result comes back as JSON (XComs are small JSON values anyway). The worker needs a Docker engine.

  Not `@task.docker`: its generated script (shared with the virtualenv task) reconnects to the task
  supervisor through file descriptor 0 whenever Airflow is importable, which in a container is not
  the supervisor's socket, so the script dies before the callable runs; our image has Airflow.

A DAG file swaps `task(task_id="train_model")(t.train_model)` for
`isolated("train", t.train_model, task_id="train_model")`; the call and `.expand()` stay the same.

Airflow's external-python task runs a task's *source code* in the other interpreter, so an isolated
task is a small trampoline (`run_in_isolation`) that imports the real callable there by its import
path and calls it with the task's arguments and the context values its signature asks for (`ds`,
`run_id`, ...). The container runs the same trampoline.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from retrain.settings import Settings, load_settings

TaskKind = Literal["train", "score"]

CALLABLE_ENV = "ISOLATED_TASK_CALLABLE"
"""Names the callable (`module:qualname`) the trampoline imports in the isolated interpreter."""
CONTEXT_ENV = "ISOLATED_TASK_CONTEXT"
"""Context values for a container, rendered by Airflow at run time (a Docker task passes none)."""


def run_in_isolation(*args, **kwargs):  # type: ignore[no-untyped-def]
    """The task body in the isolated interpreter: import the real callable and call it.

    Self-contained on purpose: Airflow copies this function's source into a script, so it may use
    nothing from this module.
    """
    import importlib
    import inspect
    import json
    import os

    module_name, _, qualname = os.environ["ISOLATED_TASK_CALLABLE"].partition(":")
    target = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    parameters = inspect.signature(target).parameters
    context = json.loads(os.environ.get("ISOLATED_TASK_CONTEXT") or "{}")
    for name, value in context.items():
        if name in parameters and name not in kwargs:
            kwargs[name] = value
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = {name: value for name, value in kwargs.items() if name in parameters}
    return target(*args, **kwargs)


def import_path(python_callable: Callable[..., Any]) -> str:
    """`module:qualname` of a module-level function, importable in another interpreter."""
    module = getattr(python_callable, "__module__", None)
    qualname = getattr(python_callable, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or module.startswith("unusual_prefix_"):
        raise ValueError(
            f"{python_callable!r} cannot run isolated: it must be a module-level function of an importable "
            "module (e.g. retrain.airflow.retrain_tasks.train_model), not one defined in a DAG file or a closure"
        )
    return f"{module}:{qualname}"


def _trampoline(python_callable: Callable[..., Any]) -> types.FunctionType:
    """`run_in_isolation` wearing the target's signature and return annotation.

    Airflow reads the signature to bind the task's arguments, to pass the context values it names,
    and to validate `.expand()`; the return annotation decides `multiple_outputs`. The source Airflow
    copies stays the trampoline's (no `__wrapped__`, on purpose).
    """
    function = types.FunctionType(
        run_in_isolation.__code__,
        python_callable.__globals__,
        run_in_isolation.__name__,  # type: ignore[attr-defined]
    )
    function.__signature__ = inspect.signature(python_callable)  # type: ignore[attr-defined]
    annotations = getattr(python_callable, "__annotations__", {})
    function.__annotations__ = {"return": annotations["return"]} if "return" in annotations else {}
    function.__doc__ = python_callable.__doc__
    function.__qualname__ = run_in_isolation.__qualname__
    function.__module__ = run_in_isolation.__module__
    return function


def task_python(settings: Settings, kind: TaskKind) -> Path:
    """The interpreter of a `virtualenv` task: RETRAIN_TASK_PYTHON, else `$RETRAIN_HOME/venvs/{kind}/bin/python`."""
    return settings.task_python or settings.home / "venvs" / kind / "bin" / "python"


def mode_of(settings: Settings, kind: TaskKind) -> str:
    if kind not in ("train", "score"):
        raise ValueError(f"task kind must be 'train' or 'score', not {kind!r}")
    return settings.isolation_train if kind == "train" else settings.isolation_score


def isolated(kind: TaskKind, python_callable: Callable[..., Any], *, task_id: str, **kwargs: Any) -> Any:
    """A TaskFlow task running `python_callable` as RETRAIN_ISOLATION_TRAIN / RETRAIN_ISOLATION_SCORE say.

    Args:
        kind: "train" or "score": which setting decides.
        python_callable: A module-level function (a task callable of `retrain.airflow`).
        task_id: The task id.
        **kwargs: Any other argument of the task (retries, outlets, pool, ...; for `docker`, any of
            DockerOperator's, e.g. `network_mode` or `docker_url`).

    Returns:
        What `task(...)(python_callable)` returns: call it with the task's arguments, or `.expand()` it.
    """
    from airflow.sdk import task

    settings = load_settings()
    mode = mode_of(settings, kind)
    if mode == "inprocess":
        return task(task_id=task_id, **kwargs)(python_callable)
    target = import_path(python_callable)
    trampoline = _trampoline(python_callable)
    if mode == "virtualenv":
        env_vars = {**kwargs.pop("env_vars", {}), CALLABLE_ENV: target}
        return task.external_python(
            task_id=task_id,
            python=str(task_python(settings, kind)),
            expect_airflow=True,
            env_vars=env_vars,
            **kwargs,
        )(trampoline)
    from retrain.airflow.isolation_container import container_task

    return container_task(settings, target, trampoline, task_id=task_id, **kwargs)
