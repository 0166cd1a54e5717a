"""The simulated timeline behind `make demo`: weeks of daily data through the real Airflow DAGs.

Every day lands through `generate_data` (features; labels `RETRAIN_LABEL_DELAY_DAYS` days later); once
a champion exists, `batch_predict` scores the day and `monitor_drift` watches it, `monitor_performance`
measures the day whose labels just landed (if it was scored), and the `retrain` run that a sustained
drift or a sustained drop of the realised metric triggers runs right away (trigger "drift" or
"performance"); every seventh day the weekly `retrain` runs (trigger "schedule"), unless a triggered
retrain already ran that day. These are the runs Airflow's scheduler would start from the asset
events. Everything runs in this one process
with `dag.test()`, so Airflow and the ML libraries are imported once.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retrain.layout import Layout
from retrain.ops.home import project_dags_folder
from retrain.settings import Settings

if TYPE_CHECKING:
    from retrain.airflow.runner import RunResult

DEMO_MARKER = ".retrain-demo"
RETRAIN_EVERY_DAYS = 7


class DemoError(RuntimeError):
    """The demo cannot start or a DAG run failed; the message says which and where the log is."""


@dataclass
class DemoTimeline:
    runs: list[RunResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, dag_id: str) -> int:
        return sum(1 for r in self.runs if r.dag_id == dag_id)


def reset_home(home: Path) -> None:
    """Start from an empty RETRAIN_HOME; only a previous demo's home is ever cleared, never user data."""
    if home.exists() and any(home.iterdir()):
        if not (home / DEMO_MARKER).exists():
            raise DemoError(
                f"{home} already holds data that a demo did not create; run the demo in another folder, "
                f"e.g. RETRAIN_HOME={home.parent / '.retrain-demo'} make demo"
            )
        for child in home.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text("created by `retrain demo`; the demo clears this folder when run again\n")


def champion_exists(settings: Settings) -> bool:
    from retrain.registry import Registry

    return Registry.from_settings(settings).champion() is not None


def run_timeline(settings: Settings, console: Console, log_path: Path) -> DemoTimeline:
    """Run `settings.demo_days` days from `settings.demo_start`; stop at the first failed DAG run."""
    import os

    from retrain.ops.startup import import_model_libraries, starting

    timeline = DemoTimeline()
    started = time.monotonic()
    with console.status("Preparing Airflow (metadata database, DAG parsing)…"), starting():
        import_model_libraries()  # before Airflow's modules: see the function
        from retrain.airflow.runner import DagRunner

        runner = DagRunner(project_dags_folder(), Path(os.environ["AIRFLOW_HOME"]))
    daily_after_champion = [d for d in ("batch_predict", "monitor_drift") if d in runner.bag.dag_ids]
    layout = Layout(settings.data_dir)

    def run(dag_id: str, ds: str, conf: dict | None = None) -> RunResult:
        result = runner.run(dag_id, ds, conf)
        timeline.runs.append(result)
        if not result.ok:
            from retrain.notify import first_line

            errors = "".join(f"; {task}: {first_line(error)}" for task, error in sorted(result.errors.items()))
            raise DemoError(
                f"DAG {dag_id} failed for {ds} (tasks: {', '.join(result.failed_tasks()) or '?'}{errors}); "
                f"the task logs are in {log_path}"
            )
        return result

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("simulating", total=settings.demo_days)
        for offset in range(settings.demo_days):
            ds = (settings.demo_start + timedelta(days=offset)).isoformat()
            progress.update(bar, description=f"{ds} generate_data")
            run("generate_data", ds)
            retrained = False
            if champion_exists(settings):
                for dag_id in daily_after_champion:
                    progress.update(bar, description=f"{ds} {dag_id}")
                    run(dag_id, ds)
                labelled = (date.fromisoformat(ds) - timedelta(days=settings.label_delay_days)).isoformat()
                if "monitor_performance" in runner.bag.dag_ids and layout.predictions_file(labelled).is_file():
                    progress.update(bar, description=f"{labelled} monitor_performance")
                    run("monitor_performance", labelled)
                # the monitors' TriggerDagRunOperator queued retrain runs; with no scheduler in this
                # process, run them here (dag.test replaces the queued run of the same logical date)
                for queued_ds, conf in dict(runner.queued_runs("retrain")).items():
                    progress.update(bar, description=f"{queued_ds} retrain ({conf.get('trigger')})")
                    run("retrain", queued_ds, conf)
                    retrained = True
            if (offset + 1) % RETRAIN_EVERY_DAYS == 0 and not retrained:
                progress.update(bar, description=f"{ds} retrain")
                run("retrain", ds, {"trigger": "schedule"})
            progress.advance(bar)
    timeline.seconds = time.monotonic() - started
    return timeline
