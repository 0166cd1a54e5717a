"""Benchmark of a single `retrain run DAG --date D`: what one small day costs as a whole command (issue 14).

    python bench/bench_runs.py [--repeat 3]

In a fresh temporary RETRAIN_HOME (defaults otherwise: 2,000 rows a day), it lands 21 days with one
range (`retrain run generate_data --start --end`), trains the first champion (`retrain run retrain`),
then times each DAG for one day as a user runs it, `--repeat` times each, as whole processes: wall
seconds (median, min-max) and the process's peak RSS. `generate_data` lands a new day each time, and
`retrain` is timed on those new days: each is a real retrain that trains a challenger and judges it
against the champion on a fresh holdout (a rerun of a decided date reuses its decision and costs less).
Two references sit beside each median:

- the issue's figure for the same command before this work (8, 16, 12 and 10 s on this machine) and
  its goal, half of it;
- the same DAG's day inside a range of days in one process (`--start/--end`), measured here: the
  command's ratio to it is what a single command pays for starting Airflow and its libraries.

Timings are the record here; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

BIN = Path(sys.executable).parent
START = date(2025, 12, 1)
LANDED_DAYS = 21

BEFORE_SECONDS = {"generate_data": 8.0, "retrain": 16.0, "batch_predict": 12.0, "monitor_drift": 10.0}
"""Issue 14's single-command figures (one 2,000-row day, same machine), before this work."""


def _clean_environment(home: Path) -> dict[str, str]:
    """The caller's environment without retrain's, Airflow's and MLflow's settings, pointed at `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRAIN_", "AIRFLOW_", "AIRFLOW__", "MLFLOW_"))}
    env["RETRAIN_HOME"] = str(home)
    env["AIRFLOW_HOME"] = str(home / "airflow")
    return env


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run `retrain ARGS` to its end: (wall seconds, peak RSS MB of that process). Exits on a failure."""
    begun = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "retrain"), *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - begun
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"retrain {' '.join(args)} failed (exit {process.returncode}):\n{output.decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def _per_day_in_range(dag_id: str, days: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds a day of `dag_id` takes inside one `--start/--end` process, from its summary table."""
    done = subprocess.run(
        [str(BIN / "retrain"), "run", dag_id, "--start", days[0], "--end", days[-1]],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {dag_id} range failed:\n{(done.stdout + done.stderr)[-3000:]}")
    seconds = [float(found) for found in re.findall(r"\d{4}-\d\d-\d\d\W+success\W+([\d.]+)", done.stdout)]
    return statistics.median(seconds) if seconds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command (default 3)")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console(width=170)
    load = lambda: " ".join(f"{v:.1f}" for v in os.getloadavg())  # noqa: E731
    load_before = load()
    days = [(START + timedelta(days=i)).isoformat() for i in range(LANDED_DAYS + args.repeat)]
    landed, day, later = days[:LANDED_DAYS], days[LANDED_DAYS - 1], days[LANDED_DAYS:]
    rows = []
    with tempfile.TemporaryDirectory(prefix="retrain-bench-runs-") as tmp:
        cwd = Path(tmp)
        env = _clean_environment(cwd / "home")
        with console.status(f"landing {LANDED_DAYS} days and training the first champion…"):
            _timed(["run", "generate_data", "--start", landed[0], "--end", landed[-1]], env, cwd)
            _timed(["run", "retrain", "--date", day, "--trigger", "manual"], env, cwd)
            _timed(["run", "batch_predict", "--date", day], env, cwd)
        plans = [
            ("generate_data", later),  # a new day each time: the first landing of a day, as every day
            ("batch_predict", [day] * args.repeat),
            ("monitor_drift", [day] * args.repeat),
            ("retrain", later),  # the days just landed: each trains and judges a challenger against the champion
        ]
        for dag_id, dates in plans:
            with console.status(f"timing retrain run {dag_id} --date …"):
                timed = [_timed(["run", dag_id, "--date", ds], env, cwd) for ds in dates[: args.repeat]]
                in_range = _per_day_in_range(dag_id, landed[-3:], env, cwd) if dag_id != "retrain" else float("nan")
            walls = [wall for wall, _ in timed]
            rows.append((dag_id, statistics.median(walls), min(walls), max(walls), max(p for _, p in timed), in_range))

    table = Table(
        title=f"one `retrain run DAG --date D` as a whole command, 2,000-row days "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}, load {load_before} / {load()})"
    )
    headers = ("DAG", "median s", "min-max s", "peak RSS MB", "before s", "goal s", "vs before", "a day in a range s")
    for header in headers:
        table.add_column(header, justify="right")
    for dag_id, median, low, high, peak, in_range in sorted(rows, key=lambda row: list(BEFORE_SECONDS).index(row[0])):
        before = BEFORE_SECONDS[dag_id]
        table.add_row(
            dag_id,
            f"{median:.1f}",
            f"{low:.1f}-{high:.1f}",
            f"{peak:.0f}",
            f"{before:.0f}",
            f"< {before / 2:.1f}",
            f"{median / before:.2f}×",
            "—" if in_range != in_range else f"{in_range:.1f}",
        )
    console.print(table)
    console.print(
        "before: the issue's figure on this machine before this work; goal: half of it. A day in a range: "
        "the same DAG's day inside one `--start/--end` process (its summary's seconds, median of 3 days)."
    )


if __name__ == "__main__":
    main()
