"""`python -m retrain.cli`: the `retrain` command."""

from retrain.cli import app

app()
