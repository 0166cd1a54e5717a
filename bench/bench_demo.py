"""Benchmark of the whole job: `retrain demo`'s wall time in a fresh temporary home (issue 14).

    python bench/bench_demo.py [--days 35]

Runs `retrain demo` once, as a user runs it, in a temporary RETRAIN_HOME (Airflow's home and the
MLflow store inside it; no RETRAIN_* or AIRFLOW_* setting of the caller is passed on, so the demo
runs with its defaults except `--days`, which sets RETRAIN_DEMO_DAYS). Prints one table: wall
seconds, CPU seconds of the demo's processes, seconds per simulated day, peak RSS of the largest of
them, and the load average before and after. The demo's own timings (`retrain demo` prints the DAG
runs' share) are in its output, kept in `demo.log` beside the table when `--keep` is given.

Timings are the record here; tests never assert them. The demo takes minutes: run it once, not in a loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _clean_environment(home: Path, days: int | None) -> dict[str, str]:
    """The caller's environment without retrain's and Airflow's settings, pointed at `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRAIN_", "AIRFLOW_", "AIRFLOW__", "MLFLOW_"))}
    env["RETRAIN_HOME"] = str(home)
    env["AIRFLOW_HOME"] = str(home / "airflow")
    if days is not None:
        env["RETRAIN_DEMO_DAYS"] = str(days)
    return env


def _children_usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=None, help="RETRAIN_DEMO_DAYS (default: the demo's own, 35)")
    parser.add_argument("--keep", type=Path, default=None, help="copy the demo's output and logs to this folder")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    load = lambda: " ".join(f"{v:.1f}" for v in os.getloadavg())  # noqa: E731
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="retrain-bench-demo-") as tmp:
        home = Path(tmp) / "home"
        env = _clean_environment(home, args.days)
        cpu_before, _ = _children_usage()
        begun = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "retrain"), "demo"], env=env, capture_output=True, text=True, check=False, cwd=tmp
        )
        wall = time.perf_counter() - begun
        cpu_after, peak_mb = _children_usage()
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "demo.out").write_text(done.stdout + done.stderr, encoding="utf-8")
            if (home / "logs").is_dir():
                shutil.copytree(home / "logs", args.keep / "logs", dirs_exist_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"retrain demo failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    days = args.days or 35
    table = Table(title=f"retrain demo, fresh home ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    for header in (
        "days simulated",
        "wall s",
        "CPU s (demo's processes)",
        "s per day",
        "peak RSS MB",
        "load before/after",
    ):
        table.add_column(header, justify="right")
    table.add_row(
        str(days),
        f"{wall:.0f}",
        f"{cpu_after - cpu_before:.0f}",
        f"{wall / days:.1f}",
        f"{peak_mb:.0f}",
        f"{load_before} / {load()}",
    )
    console = Console(width=170)
    console.print(table)
    console.print(
        "Peak RSS: the largest process the demo started (ru_maxrss of the children). Under load from "
        "other processes wall seconds stretch; CPU seconds much less."
    )


if __name__ == "__main__":
    main()
