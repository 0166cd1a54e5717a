"""Benchmark of drift monitoring (issue 12): false alarms on streams where nothing changes, detection
delay on the demo's drifting stream, and the calibration's cost.

    python bench/bench_drift.py [--seeds 5] [--days 60] [--cost-only]

What `monitor_drift` does each day is replayed in process (`assess_day`, then the trigger policy with its
hysteresis of 2 days and cooldown of 7, reading back the records of the days before), for both rules on the
same days: `fixed` (PSI >= 0.2 or KS >= 0.1, the old rule) and `calibrated` (the PSI beyond its null at the
day's size and >= 0.1, the default). The champion's reference window is the stream's first 14 days (the
default `RETRAIN_WINDOW_DAYS`); every later day is monitored against it.

Streams with no change (several seeds each):
- the project's generator with drift strength 0, at the demo's 2,000 rows x 10 features a day, and at 50 rows;
- scikit-learn's bundled `breast_cancer` (30 features, 51-row days: the issue's example), `wine` (13
  features, 30-row days) and `iris` (4 features, 25-row days): rows shuffled at random into days, a new
  random partition for each pass through the data set (no change by construction).
The demo's drifting stream (strength 1.0 from day 15, 2025-12-15; the demo's first champion trained on
2025-12-01..07): the days from the drift's start to the first drifted day and to the first retrain.
The cost: one day of 2,000 rows x 20 features against a 28,000-row window, calibrated (first day of a
champion: null drawn; later days: null read from its cache) against the fixed rule in the same process.
Numbers are the record; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from retrain.data.generate import generate_day  # noqa: E402
from retrain.drift import DriftPolicy, assess_day, should_trigger  # noqa: E402
from retrain.drift.calibration import null_rows  # noqa: E402
from retrain.records.ledger import drift_entry  # noqa: E402

START = date(2025, 12, 1)
WINDOW = 14
HEADER = (
    "| stream | days monitored | fixed: days flagged | fixed: retrains "
    "| calibrated: days flagged | calibrated: retrains |"
)
RULES = {
    "fixed": DriftPolicy(method="fixed", psi_threshold=0.2, ks_threshold=0.1),
    "calibrated": DriftPolicy(method="calibrated"),
}


def _days(n: int) -> list[str]:
    return [(START + timedelta(days=i)).isoformat() for i in range(n)]


def synthetic(seed: int, days: int, rows: int, n_features: int = 10, strength: float = 0.0) -> dict[str, pd.DataFrame]:
    drift_start = START + timedelta(days=14) if strength > 0 else None
    return {
        ds: generate_day(
            ds, rows=rows, n_features=n_features, seed=seed, drift_start=drift_start, drift_strength=strength
        )[0]
        for ds in _days(days)
    }


def bundled(name: str, seed: int, days: int, rows: int) -> dict[str, pd.DataFrame]:
    """A bundled data set shuffled into days of `rows`: a fresh random partition per pass through it."""
    from sklearn import datasets

    X = getattr(datasets, f"load_{name}")(as_frame=True).data
    rng = np.random.default_rng(seed)
    order: list[int] = []
    per_pass = len(X) // rows
    while len(order) < days * rows:
        order.extend(rng.permutation(len(X))[: per_pass * rows].tolist())
    return {ds: X.iloc[order[i * rows : (i + 1) * rows]].reset_index(drop=True) for i, ds in enumerate(_days(days))}


def monitor(frames: dict[str, pd.DataFrame], window: int, cache_dir: Path, key: str) -> dict[str, list[dict]]:
    """Each rule's drift records of the days after the window (what monitor_drift would write)."""
    days = list(frames)
    reference = pd.concat([frames[d] for d in days[:window]], ignore_index=True)
    records: dict[str, list[dict]] = {rule: [] for rule in RULES}
    for ds in days[window:]:
        for rule, policy in RULES.items():
            cache = cache_dir / f"{key}-{null_rows(len(frames[ds]))}.json" if rule == "calibrated" else None
            today = assess_day(ds, reference, frames[ds], policy, cache=cache)
            decision = should_trigger(records[rule], today, consecutive_days=2, cooldown_days=7)
            records[rule].append(drift_entry(today, decision))
    return records


def _rate(records: list[dict], field: str) -> str:
    hits = sum(bool(r[field]) for r in records)
    return f"{hits}/{len(records)} ({hits / max(len(records), 1):.1%})"


def cost(repeats: int = 5) -> tuple[float, float, float]:
    """Median seconds per day: fixed rule, calibrated on a champion's first day, calibrated with its null cached."""
    frames = synthetic(7, WINDOW + repeats, 2_000, n_features=20)
    days = list(frames)
    reference = pd.concat([frames[d] for d in days[:WINDOW]], ignore_index=True)
    assess_day(days[WINDOW], reference, frames[days[WINDOW]], RULES["fixed"])  # warm-up: imports scipy.stats
    fixed, first, cached = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, ds in enumerate(days[WINDOW:]):
            started = time.perf_counter()
            assess_day(ds, reference, frames[ds], RULES["fixed"])
            fixed.append(time.perf_counter() - started)
            cache = Path(tmp) / f"first-{i}.json"  # a new file each time: the null is drawn
            started = time.perf_counter()
            assess_day(ds, reference, frames[ds], RULES["calibrated"], cache=cache)
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            assess_day(ds, reference, frames[ds], RULES["calibrated"], cache=cache)  # its null is kept now
            cached.append(time.perf_counter() - started)
    return statistics.median(fixed), statistics.median(first), statistics.median(cached)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per stream (default 5)")
    parser.add_argument("--days", type=int, default=60, help="days per stream (default 60)")
    parser.add_argument("--cost-only", action="store_true", help="only the cost per day (seconds, not minutes)")
    args = parser.parse_args()
    if args.cost_only:
        _print_cost()
        return
    seeds = range(args.seeds)
    streams = [
        ("synthetic, drift 0, 2,000 rows x 10 features", lambda s: synthetic(s, args.days, 2_000)),
        ("synthetic, drift 0, 50 rows x 10 features", lambda s: synthetic(s, args.days, 50)),
        ("breast_cancer, 51-row days (30 features)", lambda s: bundled("breast_cancer", s, args.days, 51)),
        ("wine, 30-row days (13 features)", lambda s: bundled("wine", s, args.days, 30)),
        ("iris, 25-row days (4 features)", lambda s: bundled("iris", s, args.days, 25)),
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# drift benchmark: Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores,"
        f" load average {load}, seeds 0..{args.seeds - 1}"
    )
    print(
        f"\nNo change, {args.days} days, the first {WINDOW} the champion's window: days flagged as drifted and"
        " retrains triggered by drift (goal for the calibrated rule: 0 retrains, <= 1 % of days)\n"
    )
    print(HEADER)
    print("|---|---|---|---|---|---|")
    totals: dict[str, list[dict]] = {rule: [] for rule in RULES}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, make) in enumerate(streams):
            started = time.perf_counter()
            records: dict[str, list[dict]] = {rule: [] for rule in RULES}
            for seed in seeds:
                for rule, entries in monitor(make(seed), WINDOW, Path(tmp), f"s{index}-seed{seed}").items():
                    records[rule].extend(entries)
            for rule in RULES:
                totals[rule].extend(records[rule])
            fixed, calibrated = records["fixed"], records["calibrated"]
            print(
                f"| {name} | {len(fixed)} | {_rate(fixed, 'drifted')} | {sum(r['triggered_retrain'] for r in fixed)} "
                f"| {_rate(calibrated, 'drifted')} | {sum(r['triggered_retrain'] for r in calibrated)} |"
            )
            print(f"  ({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    fixed, calibrated = totals["fixed"], totals["calibrated"]
    print(
        f"| all | {len(fixed)} | {_rate(fixed, 'drifted')} | {sum(r['triggered_retrain'] for r in fixed)} "
        f"| {_rate(calibrated, 'drifted')} | {sum(r['triggered_retrain'] for r in calibrated)} |"
    )

    # The demo's stream: drift from 2025-12-15 (day 14), the first champion's window 2025-12-01..07.
    drift_start = START + timedelta(days=14)
    print(
        f"\nThe demo's drifting stream (2,000 rows x 10 features, strength 1.0 from {drift_start}), champion window"
        " 2025-12-01..07: days from the drift's start to the first drifted day / the first retrain (goal <= 2)\n"
    )
    print(
        "| seed | fixed: first drifted | fixed: first retrain | calibrated: first drifted | calibrated: first retrain |"
    )
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [42, *seeds]:
            frames = synthetic(seed, 24, 2_000, strength=1.0)
            records = monitor(frames, 7, Path(tmp), f"demo-{seed}")
            cells = []
            for rule in RULES:
                for field in ("drifted", "triggered_retrain"):
                    hit = next((r["ds"] for r in records[rule] if r[field]), None)
                    before = any(r[field] for r in records[rule] if r["ds"] < drift_start.isoformat())
                    lag = "never" if hit is None else f"{(date.fromisoformat(hit) - drift_start).days}"
                    cells.append(lag + (" (and before the drift)" if before else ""))
            print(f"| {seed}{' (the demo)' if seed == 42 else ''} | " + " | ".join(cells) + " |")

    _print_cost()


def _print_cost() -> None:
    fixed_s, first_s, cached_s = cost()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        "\nCost per day, 2,000 rows x 20 features against a 28,000-row window (median of 5 days):"
        f" fixed rule {fixed_s:.3f} s; calibrated, first day of a champion {first_s:.3f} s"
        f" ({first_s / fixed_s:.2f}x); calibrated, null cached {cached_s:.3f} s ({cached_s / fixed_s:.2f}x):"
        f" calibration adds {max(cached_s - fixed_s, 0):.3f} s a day (goal < 1 s); load average {load}"
    )


if __name__ == "__main__":
    main()
