"""Benchmark of the retrain step (issue 14): the project's training path vs a bare fit + predict_proba.

    python bench/bench_retrain.py [--sizes 10000,100000,1000000] [--repeats 1]

For each training window of N rows x 20 float features (plus a holdout of N/4 rows, seeded standard
normals with a non-linear target) two cases run, each in its own Python process so that peaks do not
mix (peak RSS: VmHWM of that process, imports and data included; not ru_maxrss, which a child inherits
from its parent):

- `retrain`: what `RetrainJob.train` + `RetrainJob.evaluate` (and `retrain check`) do with the model,
  without MLflow and file I/O: `build_estimator` (the configured `RETRAIN_ESTIMATOR`, by default
  HistGradientBoosting) → `model.train.fit` on a DataFrame (schema, preprocessing choice) →
  `all_metrics` on the training rows (the run's train_* metrics) → `class_probabilities` +
  `metrics_from_proba` on the holdout;
- `limit`: the same estimator (a clone) `fit` on the same numpy arrays, then `predict_proba` on the
  training rows and on the holdout: the work no training path can avoid.

The ratio is retrain seconds / limit seconds (1.00× = no overhead). Timed sections exclude imports and
data generation. `--threads` (default 1) sets OpenMP threads per case: on a shared machine spinning
OpenMP threads make multi-threaded timings vary tenfold, so one thread gives comparable ratios.
`--sizes` chooses the windows (the 1M window takes a few minutes on a loaded 2-core machine).
Timings are the record here; tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

FEATURES = [f"f{i}" for i in range(20)]
DEFAULT_SIZES = "10000,100000,1000000"


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _data(rows: int):
    """Seeded (N x 20 float64, labels) training window and an N/4 holdout: the same arrays in every case."""
    import numpy as np

    rng = np.random.default_rng(rows)
    weights = np.random.default_rng(7).standard_normal(len(FEATURES))

    def draw(n: int):
        x = rng.standard_normal((n, len(FEATURES)))
        y = (x @ weights + 0.8 * x[:, 0] * x[:, 1] + rng.standard_normal(n) > 0).astype(int)
        return x, y

    return (*draw(rows), *draw(max(rows // 4, 100)))


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(kind: str, rows: int) -> dict:
    from retrain.model.train import build_estimator
    from retrain.scoring.engine import peak_rss_mb
    from retrain.settings import Settings

    settings = Settings()
    x, y, hx, hy = _data(rows)
    estimator = build_estimator(settings.estimator, settings.estimator_params, settings.seed)
    result: dict = {"estimator": settings.estimator}
    if kind == "limit":
        from sklearn.base import clone

        model = clone(estimator)
        data_mb = _rss_mb()
        begun, cpu = time.perf_counter(), _cpu_seconds()
        model.fit(x, y)
        model.predict_proba(x)
        model.predict_proba(hx)
        result["seconds"] = time.perf_counter() - begun
    else:
        import pandas as pd

        from retrain.model.evaluate import all_metrics, class_probabilities, metrics_from_proba
        from retrain.model.train import fit

        # The job reads its split into DataFrames (read_split); the arrays are dropped as it would not hold them.
        X, H = pd.DataFrame(x, columns=FEATURES), pd.DataFrame(hx, columns=FEATURES)
        Y, HY = pd.Series(y, name="target"), pd.Series(hy, name="target")
        del x, hx
        data_mb = _rss_mb()
        begun, cpu = time.perf_counter(), _cpu_seconds()
        model = fit(estimator, X, Y)
        train_metrics = all_metrics(model, X, Y)
        classes, proba = class_probabilities(model, H)
        holdout = metrics_from_proba(HY, proba, classes)
        result["seconds"] = time.perf_counter() - begun
        result["roc_auc"] = holdout["roc_auc"]
        result["train_roc_auc"] = train_metrics["roc_auc"]
    result["cpu_s"] = _cpu_seconds() - cpu
    result["data_mb"], result["peak_mb"] = data_mb, peak_rss_mb()
    return result


def run(kind: str, rows: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--worker", kind, str(rows)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"case {kind} at {rows:,} rows failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"training rows, comma-separated ({DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, default=1, help="runs per case (median shown)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP threads per case (default 1: on a shared machine, spinning OpenMP threads make "
        "multi-threaded timings vary 10x; 0 = the library's default, every core)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return

    from rich.console import Console
    from rich.table import Table

    load = lambda: " ".join(f"{v:.1f}" for v in os.getloadavg())  # noqa: E731
    load_before, begun = load(), time.perf_counter()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    measured: dict[tuple[str, int], list[dict]] = {}
    for rows in sizes:
        for _ in range(args.repeats):
            for kind in ("limit", "retrain"):  # alternated, so a change of load hits both alike
                outcome = run(kind, rows, args.threads)
                measured.setdefault((kind, rows), []).append(outcome)
                print(
                    f"  {kind:8} {rows:>10,} rows {outcome['seconds']:7.2f} s {outcome['cpu_s']:7.2f} CPU s "
                    f"{outcome['peak_mb']:6.0f} MB",
                    flush=True,
                )

    def median(kind: str, rows: int, key: str) -> float:
        return statistics.median(r[key] for r in measured[(kind, rows)])

    estimator = measured[("retrain", sizes[0])][0]["estimator"].rsplit(".", 1)[-1]
    table = Table(
        title=f"Retrain: {estimator}, N × {len(FEATURES)} floats, holdout N/4 "
        f"({os.cpu_count()} CPUs, {args.threads or 'all'} OpenMP thread(s) per case, "
        f"Python {platform.python_version()})"
    )
    for header in (
        "training rows",
        "limit s",
        "retrain s",
        "time ratio",
        "limit CPU s",
        "retrain CPU s",
        "CPU ratio",
        "limit peak MB",
        "retrain peak MB",
        "peak ratio",
        "retrain above data MB",
        "holdout ROC AUC",
    ):
        table.add_column(header, justify="right")
    for rows in sizes:
        limit_s, retrain_s = median("limit", rows, "seconds"), median("retrain", rows, "seconds")
        limit_cpu, retrain_cpu = median("limit", rows, "cpu_s"), median("retrain", rows, "cpu_s")
        limit_mb, retrain_mb = median("limit", rows, "peak_mb"), median("retrain", rows, "peak_mb")
        table.add_row(
            f"{rows:,}",
            f"{limit_s:.2f}",
            f"{retrain_s:.2f}",
            f"{retrain_s / limit_s:.2f}×",
            f"{limit_cpu:.2f}",
            f"{retrain_cpu:.2f}",
            f"{retrain_cpu / limit_cpu:.2f}×",
            f"{limit_mb:.0f}",
            f"{retrain_mb:.0f}",
            f"{retrain_mb / limit_mb:.2f}×",
            f"{retrain_mb - median('retrain', rows, 'data_mb'):.0f}",
            f"{median('retrain', rows, 'roc_auc'):.4f}",
        )
    console = Console(width=170)
    console.print(table)
    console.print(
        "limit: the same estimator's bare fit + predict_proba (training rows and holdout) on numpy arrays; "
        "retrain: build_estimator → fit → all_metrics (train) → class_probabilities + metrics_from_proba "
        "(holdout) on DataFrames. Ratios: retrain / limit (1.00× = no overhead). Peak RSS per process, "
        f"imports and data included. Load average before/after: {load_before} / {load()}; "
        f"total {time.perf_counter() - begun:.0f} s."
    )


if __name__ == "__main__":
    main()
