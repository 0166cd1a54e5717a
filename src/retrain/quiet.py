"""Known-harmless library warnings, silenced precisely (category and the module that warns) by default.

These warnings say nothing a user can act on. `retrain run` and `retrain demo` silence them, and so
does every process that loads this project's DAGs (plain `airflow dags test`, a scheduler, a worker):
`retrain.airflow`, imported by every DAG file, calls `silence_unless_asked()`. Python's own switches
bring them back (`python -W default`, `PYTHONWARNINGS=default`), as does `retrain run --verbose`.
"""

from __future__ import annotations

import os
import sys
import warnings

HARMLESS_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # skops' `whichmodule()` looks a NumPy ufunc up in every loaded module while it dumps or audits a
    # model; each of Airflow's deprecated-alias modules answers with a FutureWarning
    # (DeprecatedImportWarning) for a name it only redirects: ~1,160 per retrain inside Airflow.
    (FutureWarning, r"skops\.io\._utils", "skops looking a ufunc up in Airflow's alias modules"),
    # Airflow's own standard provider imports a moved helper at import time (fixed upstream).
    (Warning, r"airflow\.providers\.standard\.sensors\.python", "Airflow's provider importing a moved helper"),
    # `dag.test()` talks to its in-process execution API through starlette's TestClient.
    # (starlette's StarletteDeprecationWarning about httpx, a UserWarning, attributed to fastapi.testclient)
    (Warning, r"fastapi\.testclient", "dag.test()'s in-process API client"),
)

ASKED_ENV = "PYTHONWARNINGS"
"""Python's own variable for warning filters: set (to anything), the user's filters stand and ours stay out."""


def silence_known_warnings() -> None:
    """Ignore exactly the warnings in HARMLESS_WARNINGS (each by category and warning module). Idempotent."""
    for category, module, _why in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)


def silence_unless_asked() -> None:
    """`silence_known_warnings()`, unless the user asked for warnings of their own: `python -W ...`,
    `PYTHONWARNINGS`, or `retrain run --verbose` (which calls `show_all_warnings()`).

    The idiom Airflow's own configuration module uses (`if not sys.warnoptions`), plus the environment
    variable, which a process sets for itself and its children after start-up.
    """
    if sys.warnoptions or os.environ.get(ASKED_ENV):
        return
    silence_known_warnings()


def show_all_warnings() -> None:
    """`--verbose`: every warning shows, in this process and in the task processes it starts.

    Sets `PYTHONWARNINGS=default` (unless the user set it), so that `silence_unless_asked()` stands
    aside; call it before anything imports `retrain.airflow`.
    """
    os.environ.setdefault(ASKED_ENV, "default")
