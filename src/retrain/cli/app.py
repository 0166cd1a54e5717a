"""The `retrain` app, its consoles, and what every command does first: settings, dates, error exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from retrain.settings import Settings, SettingsError, load_settings


class _RedactedErrors(typer.Typer):
    """The app with one last handler: an unexpected error prints one redacted `error:` line, exit 1.

    A traceback can quote a URL with its password (MLflow's "API request to http://user:pw@host
    failed"); the redacted traceback goes to `RETRAIN_HOME/logs/cli-error.log` instead of the terminal.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from retrain.ops.startup import leave_if_asked, skip_collection_at_exit

        skip_collection_at_exit()  # ~1 s of every command that imported Airflow (see the module)
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as done:  # how every command ends (click's standalone mode)
            leave_if_asked(done.code)  # a finished DAG run ends here, without the teardown
            raise
        except Exception as exc:  # SystemExit (typer.Exit, click's exits) is not an Exception: it passes
            import traceback

            from rich.markup import escape

            from retrain.notify import first_line
            from retrain.secrets import redact, secret_values

            try:
                settings: Settings | None = load_settings()
                secrets = secret_values(settings)
            except Exception:  # the settings themselves may be what failed: mask URL passwords only
                settings, secrets = None, []
            where = ""
            if settings is not None:
                log_path = settings.home / "logs" / "cli-error.log"
                try:
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    log_path.write_text(redact(traceback.format_exc(), secrets), encoding="utf-8")
                    where = f" (traceback in {log_path})"
                except OSError:
                    pass
            err.print(f"[red]error:[/red] {escape(first_line(exc, secrets) + where)}", highlight=False, soft_wrap=True)
            raise SystemExit(1) from None


app = _RedactedErrors(
    help="Automated, gated ML retraining and batch scoring on Airflow 3 and MLflow 3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    from retrain.ops.home import relocate

    relocate(settings)  # a home that was moved or copied uses its own files only, from the first command on
    return settings


def prepare_airflow(settings: Settings) -> Path:
    from retrain.ops.home import prepare_airflow_home

    return prepare_airflow_home(settings)


def check_date(value: str) -> str:
    from retrain.layout import check_ds

    try:
        return check_ds(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def usable_or_exit(settings: Settings) -> None:
    """The settings that only a real import can check (the estimator and its parameters): exit 2."""
    try:
        from retrain.settings import check_usable

        check_usable(settings)
    except SettingsError as exc:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def refused(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def registry_of(settings: Settings) -> Any:
    from retrain.registry import Registry

    return Registry.from_settings(settings)
