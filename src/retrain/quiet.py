"""Known-harmless library warnings, silenced precisely (category and the module that warns) by default.

`retrain run` and `retrain demo` print their progress and result; these warnings say nothing a user
can act on. `--verbose` leaves them (and every Airflow log line) on the terminal.
"""

from __future__ import annotations

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


def silence_known_warnings() -> None:
    """Ignore exactly the warnings in HARMLESS_WARNINGS (each by category and warning module). Idempotent."""
    for category, module, _why in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)
