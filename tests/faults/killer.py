"""Run one DAG for one date in this fresh process and SIGKILL it right before or after a function call.

    python tests/faults/killer.py DAG_ID DS MODULE:ATTR before|after CONF_JSON

The environment (RETRAIN_HOME, AIRFLOW_HOME, ...) comes from the caller. No production code knows about
this: the fault is injected by patching the function from outside, as a crash would strike it.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import signal
import sys
from pathlib import Path


def _patch(target: str, when: str) -> None:
    module_name, _, attr_path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)

    @functools.wraps(original)
    def killing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, killing)


def main() -> None:
    dag_id, ds, target, when, conf = sys.argv[1:6]
    from retrain.airflow.runner import DagRunner

    _patch(target, when)
    dags = Path(__file__).resolve().parents[2] / "dags"
    result = DagRunner(dags, Path(os.environ["AIRFLOW_HOME"])).run(dag_id, ds, json.loads(conf) or None)
    print(f"NOT KILLED: {result}")  # noqa: T201
    sys.exit(3)


if __name__ == "__main__":
    main()
