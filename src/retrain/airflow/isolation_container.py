"""The `docker` isolation mode: a task's callable run inside RETRAIN_TASK_IMAGE by DockerOperator.

RETRAIN_HOME (and the data folder and source, when elsewhere) is mounted at the same paths, the settings
go in the container's environment and the secrets in its private environment (never rendered in the
UI or logged). Arguments go in as JSON, the result comes back as JSON. See `retrain.airflow.isolation`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrain.airflow.isolation import CALLABLE_ENV, CONTEXT_ENV, run_in_isolation
from retrain.settings import Settings, env_names
from retrain.urls import source_kind

INPUT_ENV = "ISOLATED_TASK_INPUT"
"""The task's arguments, JSON, for a container."""
RESULT_ENV = "ISOLATED_TASK_RESULT"
"""Where the container writes the callable's return value (JSON); DockerOperator reads it back."""
RESULT_PATH = "/tmp/retrain-task-result.json"  # noqa: S108  (inside the container)
CONTAINER_COMMAND = ["python", "-m", "retrain.airflow.isolation_container"]

SECRET_ENV_NAMES = frozenset(
    {
        "RETRAIN_TELEGRAM_TOKEN",
        "TG_TOKEN",
        "RETRAIN_NOTIFY_URLS",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    }
)
"""Settings a container gets through `private_environment` only (the tracking URI may hold a password)."""
SETTINGS_ENV_EXTRA = ("MLFLOW_TRACKING_USERNAME",)

_CONTEXT_TEMPLATE = (
    '{"ds": {{ ds | tojson }}, "ds_nodash": {{ ds_nodash | tojson }}, "ts": {{ ts | tojson }}, '
    '"run_id": {{ run_id | tojson }}, "logical_date": {{ ts | tojson }}}'
)


def container_environment(settings: Settings, environ: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(environment, private_environment) of a container task: the settings, secrets apart."""
    env = dict(os.environ if environ is None else environ)
    names = env_names() | set(SETTINGS_ENV_EXTRA)
    public = {k: v for k, v in env.items() if k in names and k not in SECRET_ENV_NAMES}
    private = {k: v for k, v in env.items() if k in SECRET_ENV_NAMES}
    public["RETRAIN_HOME"] = str(settings.home)
    public.pop("RETRAIN_TASK_PYTHON", None)  # a host path, meaningless in the image
    return public, private


def container_mounts(settings: Settings) -> list[Any]:
    """Bind mounts at the same paths as on the worker: RETRAIN_HOME, plus the data folder and the source
    when they live elsewhere (the source read-only). Same paths, so every path in XComs still holds."""
    from docker.types import Mount

    mounts = [Mount(target=str(settings.home), source=str(settings.home), type="bind")]
    home = settings.home.resolve()
    if settings.data_dir_override and not settings.data_dir.resolve().is_relative_to(home):
        mounts.append(Mount(target=str(settings.data_dir), source=str(settings.data_dir), type="bind"))
    if source_kind(settings.source) == "folder":
        mounts.append(Mount(target=str(settings.source), source=str(settings.source), type="bind", read_only=True))
    return mounts


@functools.cache
def _docker_task_operator() -> type:
    """The operator class of a container task: DockerOperator with a TaskFlow signature.

    Built on first use: DAG files that isolate nothing never import the Docker provider.
    """
    from airflow.providers.docker.operators.docker import DockerOperator
    from airflow.sdk.bases.decorator import DecoratedOperator

    class IsolatedDockerOperator(DecoratedOperator, DockerOperator):
        """Runs `CONTAINER_COMMAND`, which calls the task's callable inside the image."""

        custom_operator_name = "@isolated.docker"
        template_fields = (*DockerOperator.template_fields, "op_args", "op_kwargs")
        pickling_library = json  # how DockerOperator reads the result file back

        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("command", list(CONTAINER_COMMAND))
            super().__init__(retrieve_output=True, retrieve_output_path=RESULT_PATH, **kwargs)

        def execute(self, context: Any) -> Any:
            self.environment = {
                **self.environment,
                INPUT_ENV: json.dumps({"args": list(self.op_args), "kwargs": dict(self.op_kwargs)}),
                RESULT_ENV: RESULT_PATH,
            }
            return super().execute(context)

    return IsolatedDockerOperator


def container_main() -> int:
    """Inside the container: call the task's callable with its JSON arguments and write its JSON result."""
    payload = json.loads(os.environ.get(INPUT_ENV) or '{"args": [], "kwargs": {}}')
    result = run_in_isolation(*payload["args"], **payload["kwargs"])
    Path(os.environ.get(RESULT_ENV, RESULT_PATH)).write_text(json.dumps(result), encoding="utf-8")
    return 0


def container_task(
    settings: Settings, target: str, trampoline: Callable[..., Any], *, task_id: str, **kwargs: Any
) -> Any:
    """The TaskFlow task of `isolated(...)` in `docker` mode: `trampoline` calls `target` in the image."""
    from airflow.sdk.bases.decorator import task_decorator_factory

    environment, private = container_environment(settings)
    environment.update(kwargs.pop("environment", {}))
    environment[CALLABLE_ENV] = target
    environment[CONTEXT_ENV] = _CONTEXT_TEMPLATE
    return task_decorator_factory(
        python_callable=trampoline,
        decorated_operator_class=_docker_task_operator(),
        task_id=task_id,
        image=settings.task_image,
        environment=environment,
        private_environment={**private, **kwargs.pop("private_environment", {})},
        mounts=[*container_mounts(settings), *kwargs.pop("mounts", [])],
        mount_tmp_dir=kwargs.pop("mount_tmp_dir", False),
        auto_remove=kwargs.pop("auto_remove", "success"),
        **kwargs,
    )


if __name__ == "__main__":
    sys.exit(container_main())
