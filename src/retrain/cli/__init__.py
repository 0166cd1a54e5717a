"""The `retrain` command: run the demo, run one DAG, show status, promote, roll back, score a file.

Imports are lazy: `retrain --help` must not pay for Airflow, MLflow or scikit-learn. One module per
group of commands: `runs` (demo, run), `models` (status, promote, rollback, predict), `ops` (up,
settings), `quality` (check); `app` holds the app and what every command does first.
"""

from __future__ import annotations

from importlib import import_module

from retrain.cli.app import app

COMMAND_MODULES = ("runs", "models", "ops", "quality")
"""Importing a module registers its commands, in this order in `retrain --help`."""

for _module in COMMAND_MODULES:
    import_module(f"retrain.cli.{_module}")

__all__ = ["app"]
