"""Benchmark of batch scoring (issue 3): the seeds' way vs streaming, CSV and Parquet, ONNX vs scikit-learn.

    python bench/bench_score.py [--rows 2000000] [--budget 300]

Generates N x 20 float features and an int id, columns shuffled, into a temporary folder (CSV and
Parquet, plus an N/10 CSV for the memory check and a 10-row file), trains LogisticRegression and
HistGradientBoostingClassifier(max_iter=200) on a 50k sample and registers both in a fresh MLflow
store in that folder (for `retrain predict` as a user runs it: whole command, issue 14), then runs
every case in its own Python process (honest peak RSS: VmHWM of that process,
imports and model included; not ru_maxrss, which a child inherits from this parent). Every case
runs once; cases are then repeated (up to 3 runs, the table shows the median) while the time budget
allows. Prints one table and the issue's targets.
Timings are the record here; tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FEATURES = [f"f{i}" for i in range(20)]
TRAIN_ROWS = 50_000
BATCH_ROWS = 100_000
CHUNK_ROWS = 200_000


# --------------------------------------------------------------------------------------------------
# Data and models (parent process)


def _target(x, rng):
    import numpy as np

    weights = np.random.default_rng(7).standard_normal(x.shape[1])
    return (x @ weights + 0.8 * x[:, 0] * x[:, 1] + rng.standard_normal(len(x)) > 0).astype(int)


def generate(folder: Path, rows: int) -> dict[str, Path]:
    """N x 20 standard-normal floats and an int id, columns shuffled, as CSV and Parquet (100k-row groups).

    Plus the first N/10 rows as CSV (memory check) and the first 10 rows as Parquet (fixed cost).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    paths = {"csv": folder / "data.csv", "parquet": folder / "data.parquet", "csv_tenth": folder / "tenth.csv"}
    rng = np.random.default_rng(0)
    order = ["id", *FEATURES]
    np.random.default_rng(5).shuffle(order)  # columns shuffled, with one extra id column (issue 14's data)
    schema = pa.schema([(name, pa.int64() if name == "id" else pa.float64()) for name in order])
    tenth = max(rows // 10, 1)
    with (
        pacsv.CSVWriter(paths["csv"], schema) as csv_out,
        pacsv.CSVWriter(paths["csv_tenth"], schema) as tenth_out,
        pq.ParquetWriter(paths["parquet"], schema, use_dictionary=False) as parquet_out,
    ):
        for start in range(0, rows, CHUNK_ROWS):
            size = min(CHUNK_ROWS, rows - start)
            chunk = rng.standard_normal((size, len(FEATURES)))
            values = {name: chunk[:, j] for j, name in enumerate(FEATURES)} | {"id": np.arange(start, start + size)}
            table = pa.table({name: values[name] for name in order}, schema=schema)
            csv_out.write_table(table)
            parquet_out.write_table(table, row_group_size=BATCH_ROWS)
            if start < tenth:
                tenth_out.write_table(table.slice(0, min(size, tenth - start)))
            if start == 0:
                paths["tiny"] = folder / "tiny.parquet"
                pq.write_table(table.slice(0, 10), paths["tiny"])
    return paths


def train(folder: Path) -> dict[str, Path]:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.standard_normal((TRAIN_ROWS, len(FEATURES)))
    frame, y = pd.DataFrame(x, columns=FEATURES), _target(x, rng)
    models = {
        "LR": LogisticRegression(max_iter=1000).fit(frame, y),
        "HGB": HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(frame, y),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = folder / f"{name}.pkl"
        paths[name].write_bytes(pickle.dumps(model))
    paths["hgb_iterations"] = models["HGB"].n_iter_  # type: ignore[assignment]
    # `retrain predict` as a user runs it: the same two models logged and registered in a fresh home
    from retrain.registry import Registry
    from retrain.settings import load_settings

    registry = Registry.from_settings(load_settings())
    for day, (name, model) in enumerate(models.items(), start=1):
        ds = f"2025-12-{day:02d}"
        run_id = registry.log_challenger(model, frame.head(50), ds=ds, params={}, metrics={}, tags={}, window=[ds])
        paths[f"uri-{name}"] = f"models:/{registry.model_name}/{registry.register(run_id, ds=ds)}"  # type: ignore[assignment]
    return paths


# --------------------------------------------------------------------------------------------------
# Cases (each runs in a worker process: `bench_score.py --worker KIND MODEL INPUT OUTPUT`)


def _in_memory(path: str):
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=FEATURES)
    return np.ascontiguousarray(np.column_stack([table.column(c).to_numpy() for c in FEATURES]))


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(kind: str, model_path: str, source: str, output: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")  # "X does not have valid feature names" on raw arrays
    model = pickle.loads(Path(model_path).read_bytes())
    result: dict = {}
    cpu_before = _cpu_seconds()
    if kind == "seeds":
        import numpy as np
        import pandas as pd

        begun, cpu_before = time.perf_counter(), _cpu_seconds()
        frame = pd.read_csv(source)
        proba = model.predict_proba(frame[list(model.feature_names_in_)])
        pd.DataFrame(
            {
                "row": np.arange(len(frame)),
                "prediction": model.classes_[proba.argmax(axis=1)],
                "probability": proba[:, 1],
                "model_version": "1",
            }
        ).to_csv(output, index=False)
        result["seconds"], result["rows"] = time.perf_counter() - begun, len(frame)
    elif kind in {"raw", "onnx"}:
        matrix = _in_memory(source)
        if kind == "raw":
            begun, cpu_before = time.perf_counter(), _cpu_seconds()
            model.predict_proba(matrix)
        else:  # as the streaming loop runs it: one-thread sessions, 100k-row slices on every CPU at once
            from concurrent.futures import ThreadPoolExecutor

            from retrain.scoring.backends import available_cpus, make_predictor

            setup = time.perf_counter()
            predictor = make_predictor(model, "onnx", FEATURES, matrix[:2_000], threads=1)
            begun, cpu_before = time.perf_counter(), _cpu_seconds()
            result["setup_s"], result["backend"] = begun - setup, predictor.name
            result["note"] = predictor.note
            slices = [matrix[i : i + BATCH_ROWS] for i in range(0, len(matrix), BATCH_ROWS)]
            with ThreadPoolExecutor(available_cpus()) as pool:
                list(pool.map(predictor.predict_proba, slices))
        result["seconds"], result["rows"] = time.perf_counter() - begun, len(matrix)
    else:  # stream-auto / stream-sklearn
        from retrain.scoring.engine import score_file

        backend = kind.split("-", 1)[1]
        stats = score_file(model, source, output, batch_rows=BATCH_ROWS, model_version="1", backend=backend)
        result.update(seconds=stats.seconds, rows=stats.rows, backend=stats.backend, note=stats.backend_note)
    from retrain.scoring.engine import peak_rss_mb

    result["cpu_s"] = _cpu_seconds() - cpu_before
    result["peak_mb"] = peak_rss_mb()
    return result


# --------------------------------------------------------------------------------------------------
# Orchestration and report (parent process)


@dataclass
class Case:
    key: str
    label: str
    model: str
    kind: str
    source: str  # key of the data paths
    output: str  # file name in the temp folder
    baseline: str | None = None  # key of the case this one is compared with (speed-up = its s / ours)
    runs: list[dict] = field(default_factory=list)
    cost: float = 0.0  # wall seconds of one run, process start included
    cold: bool = False  # `retrain predict` with its model cache emptied first (a registry change)

    @property
    def seconds(self) -> float:
        return statistics.median(r["seconds"] for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r["cpu_s"] for r in self.runs)

    @property
    def peak_mb(self) -> float:
        return statistics.median(r["peak_mb"] for r in self.runs)

    @property
    def rows(self) -> int:
        return self.runs[0]["rows"]


def cases() -> list[Case]:
    listed = []
    for model in ("LR", "HGB"):
        m = model.lower()
        listed += [
            Case(
                f"seeds-{m}",
                "seeds' way: pandas read_csv → predict_proba → to_csv",
                model,
                "seeds",
                "csv",
                f"seeds-{m}.csv",
            ),
            Case(f"raw-{m}", "raw predict_proba, in-memory array (compute limit)", model, "raw", "parquet", "-"),
            Case(
                f"csv-{m}",
                "streaming CSV → CSV (auto backend)",
                model,
                "stream-auto",
                "csv",
                f"csv-{m}.csv",
                baseline=f"seeds-{m}",
            ),
            Case(
                f"parquet-{m}",
                "streaming Parquet → Parquet (auto backend)",
                model,
                "stream-auto",
                "parquet",
                f"parquet-{m}.parquet",
                baseline=f"raw-{m}",
            ),
        ]
    listed += [
        Case(
            "cli-parquet-hgb",
            "`retrain predict` Parquet → Parquet (whole command)",
            "HGB",
            "cli",
            "parquet",
            "cli-hgb.parquet",
            baseline="raw-hgb",
        ),
        Case(
            "cli-csv-lr",
            "`retrain predict` CSV → CSV (whole command)",
            "LR",
            "cli",
            "csv",
            "cli-lr.csv",
            baseline="seeds-lr",
        ),
        Case(
            "cli-tiny-hgb",
            "`retrain predict` on a 10-row file (fixed cost; model cache warm)",
            "HGB",
            "cli",
            "tiny",
            "cli-tiny.csv",
        ),
        Case(
            "cli-tiny-cold",
            "`retrain predict` on a 10-row file, first after a registry change (MLflow lookup in a child)",
            "HGB",
            "cli",
            "tiny",
            "cli-tiny-cold.csv",
            cold=True,
        ),
        Case(
            "csv-hgb-sk",
            "streaming CSV → CSV (scikit-learn backend)",
            "HGB",
            "stream-sklearn",
            "csv",
            "csv-hgb-sk.csv",
            baseline="seeds-hgb",
        ),
        Case(
            "parquet-hgb-sk",
            "streaming Parquet → Parquet (scikit-learn backend)",
            "HGB",
            "stream-sklearn",
            "parquet",
            "parquet-hgb-sk.parquet",
            baseline="raw-hgb",
        ),
        Case("onnx-hgb", "ONNX Runtime backend, in-memory array", "HGB", "onnx", "parquet", "-", baseline="raw-hgb"),
        Case(
            "tenth-lr",
            "streaming CSV → CSV at N/10 rows (memory check)",
            "LR",
            "stream-auto",
            "csv_tenth",
            "tenth-lr.csv",
        ),
        Case(
            "tenth-hgb",
            "streaming CSV → CSV at N/10 rows (memory check)",
            "HGB",
            "stream-auto",
            "csv_tenth",
            "tenth-hgb.csv",
        ),
    ]
    return listed


def run_cli(case: Case, folder: Path, data: dict[str, Path], models: dict[str, Path]) -> None:
    """`retrain predict` in its own process, as a user runs it: the whole command is timed.

    Its peak RSS is the one it prints (VmHWM of that process, imports and model included).
    """
    import re
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    source, output = data[case.source], folder / case.output
    if case.cold:
        from retrain.layout import Layout
        from retrain.settings import load_settings

        shutil.rmtree(Layout(load_settings().data_dir).model_cache(), ignore_errors=True)
    command = [str(Path(sys.executable).parent / "retrain"), "predict", "--input", str(source), "--output", str(output)]
    command += ["--model", str(models[f"uri-{case.model}"])]
    cpu_before, begun = children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - begun
    if done.returncode != 0:
        raise SystemExit(f"case {case.key} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    found = re.search(r"([\d,]+) rows scored .* peak RSS (\d+) MB, backend (\w+)", " ".join(done.stdout.split()))
    if found is None:
        raise SystemExit(f"case {case.key}: no summary line in\n{done.stdout[-2000:]}")
    case.runs.append(
        {
            "seconds": seconds,
            "rows": int(found.group(1).replace(",", "")),
            "peak_mb": float(found.group(2)),
            "backend": found.group(3),
            "cpu_s": children_cpu() - cpu_before,
        }
    )
    case.cost = seconds


def run_case(case: Case, folder: Path, data: dict[str, Path], models: dict[str, Path]) -> None:
    if case.kind == "cli":
        run_cli(case, folder, data, models)
        return
    begun = time.perf_counter()
    command = [
        sys.executable,
        __file__,
        "--worker",
        case.kind,
        str(models[case.model]),
        str(data[case.source]),
        str(folder / case.output),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"case {case.key} failed:\n{done.stderr[-3000:]}")
    case.runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    case.cost = time.perf_counter() - begun


def onnx_agreement(folder: Path) -> str:
    """Max |Δp| and label differences between the ONNX and scikit-learn streaming outputs (all rows)."""
    import numpy as np
    import pyarrow.parquet as pq

    onnx, sk = folder / "parquet-hgb.parquet", folder / "parquet-hgb-sk.parquet"
    if not (onnx.exists() and sk.exists()):
        return "n/a"
    a, b = pq.read_table(onnx), pq.read_table(sk)
    gap = float(np.max(np.abs(a.column("probability").to_numpy() - b.column("probability").to_numpy())))
    labels = int(np.count_nonzero(a.column("prediction").to_numpy() != b.column("prediction").to_numpy()))
    return f"max |Δp| {gap:.1e} over {a.num_rows:,} rows, {labels} label(s) differ"


def report(listed: list[Case], rows: int, extra: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    by_key = {c.key: c for c in listed}
    table = Table(title=f"Batch scoring, {rows:,} × {len(FEATURES)} floats ({extra['machine']})", show_lines=False)
    for header in ("case", "model", "rows/s", "seconds", "CPU s", "runs", "peak RSS MB", "ratio vs baseline"):
        table.add_column(header, justify="left" if header in {"case", "model", "ratio vs baseline"} else "right")
    for case in listed:
        ratio = ""
        if case.baseline:
            base = by_key[case.baseline]
            ratio = f"{base.seconds / case.seconds:.2f}× {'faster than' if case.kind != 'onnx' else 'vs'} {base.key}"
        if case.key.startswith("tenth"):
            full = by_key[f"csv-{case.model.lower()}"]
            ratio = f"peak at N / peak at N/10: {full.peak_mb / case.peak_mb:.2f}×"
        backend = case.runs[0].get("backend")
        label = case.label + (f" [{backend}]" if backend and case.kind.startswith(("stream", "onnx", "cli")) else "")
        table.add_row(
            label,
            case.model,
            f"{case.rows / case.seconds:,.0f}",
            f"{case.seconds:.2f}",
            f"{case.cpu_s:.2f}",
            str(len(case.runs)),
            f"{case.peak_mb:.0f}",
            ratio,
        )
    console = Console(width=170)
    console.print(table)

    def speedup(key: str) -> float:
        case = by_key[key]
        return by_key[case.baseline].seconds / case.seconds

    growth = max(by_key[f"csv-{m}"].peak_mb / by_key[f"tenth-{m}"].peak_mb for m in ("lr", "hgb"))
    streaming = ("csv-lr", "csv-hgb", "parquet-lr", "parquet-hgb", "csv-hgb-sk", "parquet-hgb-sk")
    targets = [
        ("memory flat: peak at N < 1.3× peak at N/10 (CSV→CSV, LR and HGB)", growth, lambda v: v < 1.3, "{:.2f}×"),
        (
            "memory < 500 MB at N rows (largest streaming case)",
            max(by_key[k].peak_mb for k in streaming),
            lambda v: v < 500,
            "{:.0f} MB",
        ),
        ("CSV→CSV ≥ 2× the seeds' way, LogisticRegression", speedup("csv-lr"), lambda v: v >= 2.0, "{:.2f}×"),
        (
            "CSV→CSV ≥ 1.4× the seeds' way, HistGradientBoosting (auto backend)",
            speedup("csv-hgb"),
            lambda v: v >= 1.4,
            "{:.2f}×",
        ),
        ("   same, scikit-learn backend (for reference)", speedup("csv-hgb-sk"), lambda v: v >= 1.4, "{:.2f}×"),
        (
            "Parquet→Parquet ≥ 0.85× raw predict_proba, HistGradientBoosting (auto)",
            speedup("parquet-hgb"),
            lambda v: v >= 0.85,
            "{:.2f}×",
        ),
        ("   same, scikit-learn backend (for reference)", speedup("parquet-hgb-sk"), lambda v: v >= 0.85, "{:.2f}×"),
        (
            "`retrain predict` peak RSS ≤ 500 MB, Parquet HGB (issue 14)",
            by_key["cli-parquet-hgb"].peak_mb,
            lambda v: v <= 500,
            "{:.0f} MB",
        ),
        ("`retrain predict` peak RSS ≤ 500 MB, CSV LR", by_key["cli-csv-lr"].peak_mb, lambda v: v <= 500, "{:.0f} MB"),
        (
            "`retrain predict` on a 10-row file < 2.5 s (whole command)",
            by_key["cli-tiny-hgb"].seconds,
            lambda v: v < 2.5,
            "{:.2f} s",
        ),
        (
            "   same, first after a registry change (for reference)",
            by_key["cli-tiny-cold"].seconds,
            lambda v: v < 2.5,
            "{:.2f} s",
        ),
        (
            "ONNX Runtime faster than scikit-learn predict_proba, HGB, same array",
            speedup("onnx-hgb"),
            lambda v: v > 1.0,
            "{:.2f}×",
        ),
    ]
    result = Table(title="Targets (issues 3 and 14)")
    for header in ("target", "measured", "result"):
        result.add_column(header)
    for name, value, check, fmt in targets:
        ok = check(value)
        result.add_row(name, fmt.format(value), "[green]PASS[/green]" if ok else "[red]FAIL[/red]")
    console.print(result)
    onnx_run = by_key["onnx-hgb"].runs[0]
    console.print(
        f"ONNX backend: {onnx_run.get('note')}; conversion + check {onnx_run.get('setup_s', 0):.2f} s; "
        f"streaming outputs ONNX vs scikit-learn: {extra['agreement']}"
    )
    console.print(
        f"HGB trained with {extra['hgb_iterations']} iterations; batch_rows={BATCH_ROWS:,}; "
        f"load average before/after: {extra['load_before']} / {extra['load_after']}; "
        f"total {extra['total_s']:.0f} s. Seconds and CPU s: medians, timed section only (imports, "
        "model and data loading excluded), except the `retrain predict` rows: the whole command, imports, "
        "the MLflow lookup (or the model cache), model loading and the ONNX check included. This benchmark "
        "adds ~1-2 to the load average itself; a load before it starts means other processes share the "
        "cores, and wall-clock ratios then shrink toward the CPU-seconds ratios."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the generated input (default 2,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case at most (median shown)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds after which no case is repeated")
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "MODEL", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return

    begun = time.perf_counter()
    load = lambda: " ".join(f"{v:.1f}" for v in os.getloadavg())  # noqa: E731
    extra = {"load_before": load(), "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        folder = Path(tmp)
        for key in [k for k in os.environ if k.startswith(("RETRAIN_", "AIRFLOW_", "MLFLOW_"))]:
            del os.environ[key]  # `retrain predict` runs in a fresh home with default settings
        os.environ["RETRAIN_HOME"] = str(folder / "home")
        os.environ["AIRFLOW_HOME"] = str(folder / "home" / "airflow")
        print(f"generating {args.rows:,} rows into {folder} ...", flush=True)
        data = generate(folder, args.rows)
        models = train(folder)
        extra["hgb_iterations"] = models.pop("hgb_iterations")  # type: ignore[assignment]
        listed = cases()
        for round_ in range(args.repeats):
            # Later rounds repeat the cheapest cases first (most runs for the money), while the budget lasts.
            order = listed if round_ == 0 else sorted(listed, key=lambda c: c.cost)
            for case in order:
                if round_ and (case.key.startswith("tenth") or time.perf_counter() - begun + case.cost > args.budget):
                    continue
                run_case(case, folder, data, models)
                print(
                    f"  round {round_ + 1}: {case.key:16} {case.runs[-1]['seconds']:7.2f} s  "
                    f"{case.runs[-1]['peak_mb']:6.0f} MB",
                    flush=True,
                )
        extra["agreement"] = onnx_agreement(folder)
    extra["load_after"], extra["total_s"] = load(), time.perf_counter() - begun
    report(listed, args.rows, extra)


if __name__ == "__main__":
    main()
