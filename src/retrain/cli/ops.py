"""`retrain up` and `retrain settings`: the UIs on this project, and the effective settings."""

from __future__ import annotations

import json

import typer

from retrain.cli.app import (
    app,
    settings_or_exit,
    usable_or_exit,
)


@app.command()
def up() -> None:
    """The Airflow UI and the MLflow UI on this project (login required), in the foreground; Ctrl-C stops all."""
    settings = settings_or_exit()
    from retrain.ops.up import main

    raise typer.Exit(main(settings))


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings and where they lead (secrets masked); exit 2 if one is unusable."""
    settings = settings_or_exit()
    usable_or_exit(settings)
    data = {**settings.public_dict(), "effective": settings.effective_locations()}
    typer.echo(json.dumps(data, indent=2, default=str))
