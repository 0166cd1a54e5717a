"""Benchmark of the gate (issue 12): how often does each rule deploy on a stream where nothing changed?

    python bench/bench_gate.py [--seeds 10] [--rows-per-day 1000]

Streams (each with several seeds), retrained every 7 days on the last 14 days with the freshest 7 days'
holdout (the system's defaults and its own `split_window`), HistGradientBoostingClassifier as in the
default settings:
- `synthetic`: the project's generator with drift strength 0 (60 days);
- `breast_cancer`, `digits (≥ 5)`: scikit-learn's bundled real data sets, rows shuffled at random into
  28 days (no change by construction);
- a control: the generator's drifting stream (strength 1.0, as the demo), shown per retrain: the
  retrains whose holdout holds the drift should still deploy.
Each challenger is trained once and judged by both rules in the same process (`point`, the old rule at
`RETRAIN_MIN_IMPROVEMENT` 0, and `bootstrap`, the paired 95 % interval); each rule keeps its own
champion. The table shows the share of retrains after the first that deploy (goal on the no-change
streams: ≤ 5 % for the bootstrap gate), with the Wilson 95 % interval of the overall share: with 5 seeds
(50 retrains) a measured 6 % could be anything from 2 % to 16 %, hence 10 seeds by default), and the
cost of the bootstrap on a 10,000-row holdout (goal < 2 s).
Numbers are the record; tests never assert them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from retrain.data.generate import generate_day  # noqa: E402
from retrain.data.prepare import split_window  # noqa: E402
from retrain.model.compare import paired_bootstrap  # noqa: E402
from retrain.model.gate import GatePolicy, decide_paired  # noqa: E402

START = date(2025, 12, 1)
DRIFT_START = START + timedelta(days=25)
WINDOW, HOLDOUT_DAYS, EVERY, FRACTION = 14, 7, 7, 0.5
RULES = ("point", "bootstrap")


@dataclass
class Judged:
    """One retrain after the first of a stream: its window's last day and each rule's decision."""

    seed: int
    window_end: str
    deploy: dict[str, bool] = field(default_factory=dict)
    too_small: bool = False


def _days(n: int) -> list[str]:
    return [(START + timedelta(days=i)).isoformat() for i in range(n)]


def synthetic(seed: int, rows: int, strength: float, days: int = 60) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    drift_start = DRIFT_START if strength > 0 else None
    return {
        ds: generate_day(ds, rows=rows, n_features=10, seed=seed, drift_start=drift_start, drift_strength=strength)
        for ds in _days(days)
    }


def bundled(name: str, seed: int, days: int = 28) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """A scikit-learn bundled data set, its rows shuffled at random into `days` days."""
    from sklearn import datasets

    if name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True, as_frame=True)
    else:
        X, y = datasets.load_digits(return_X_y=True, as_frame=True)
        y = (y >= 5).astype(int)
    order = np.random.default_rng(seed).permutation(len(X))
    parts = np.array_split(order, days)
    return {
        ds: (X.iloc[idx].reset_index(drop=True), y.iloc[idx].rename("target").reset_index(drop=True))
        for ds, idx in zip(_days(days), parts, strict=True)
    }


def run_stream(frames: dict[str, tuple[pd.DataFrame, pd.Series]], seed: int) -> list[Judged]:
    """Weekly retrains over the stream; each rule's decision on every retrain after the first."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    days = list(frames)
    champions: dict[str, object | None] = dict.fromkeys(RULES)
    judged: list[Judged] = []
    for end in range(WINDOW, len(days) + 1, EVERY):
        window = days[end - WINDOW : end]
        train, holdout = split_window({d: frames[d] for d in window}, window[-HOLDOUT_DAYS:], FRACTION, seed)
        features = [c for c in train.columns if c not in ("target", "ds")]
        model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed)
        model.fit(train[features], train["target"])
        X, y = holdout[features], holdout["target"].to_numpy()
        challenger = model.predict_proba(X)
        record = Judged(seed, window[-1]) if champions["point"] is not None else None
        for rule in RULES:
            champion = champions[rule]
            champion_proba = None if champion is None else champion.predict_proba(X)  # type: ignore[attr-defined]

            decision = decide_paired(
                "roc_auc",
                y,
                [0, 1],
                challenger,
                champion_proba,
                challenger_score=float(roc_auc_score(y, challenger[:, 1])),
                champion_score=None if champion_proba is None else float(roc_auc_score(y, champion_proba[:, 1])),
                policy=GatePolicy(threshold=0.8, method=rule, seed=seed),
            )
            if decision.deploy or champion is None:  # the first model always becomes the champion here
                champions[rule] = model
            if record is not None:
                record.deploy[rule] = decision.deploy
                record.too_small |= rule == "bootstrap" and any("too small" in r for r in decision.reasons)
        if record is not None:
            judged.append(record)
    return judged


def bootstrap_cost(rows: int = 10_000, resamples: int = 1000, repeats: int = 3) -> float:
    """Median seconds of the paired bootstrap (ROC AUC, both models) on a `rows`-row holdout."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, rows)
    probas = []
    for shift in (0.5, 0.45):
        p = np.clip(rng.random(rows) * 0.8 + y * shift * 0.4, 0, 1)
        probas.append(np.column_stack([1 - p, p]))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        paired_bootstrap("roc_auc", y, [0, 1], probas[0], probas[1], confidence=0.95, resamples=resamples, seed=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _share(records: list[Judged], rule: str, interval: bool = False) -> str:
    deployed = sum(r.deploy[rule] for r in records)
    text = f"{deployed}/{len(records)} ({deployed / max(len(records), 1):.0%}"
    if interval:
        low, high = wilson(deployed, len(records))
        text += f", 95 % CI {low:.0%}–{high:.0%}"
    return text + ")"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927; Agresti & Coull 1998): how sure a share of
    a few dozen retrains is. 3 deploys in 50 is 6 %, but anything from about 2 % to 16 %."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per stream (default 10)")
    parser.add_argument("--rows-per-day", type=int, default=500, help="synthetic rows per day (default 500)")
    args = parser.parse_args()
    streams = [
        ("synthetic, drift 0", lambda s: synthetic(s, args.rows_per_day, 0.0)),
        ("breast_cancer, shuffled into days", lambda s: bundled("breast_cancer", s)),
        ("digits (label ≥ 5), shuffled into days", lambda s: bundled("digits", s)),
    ]
    seeds = range(args.seeds)
    print(f"# gate benchmark: Python {platform.python_version()}, {platform.machine()}, seeds 0..{args.seeds - 1}")
    print("\nNo real change: share of the retrains after the first that deploy (goal ≤ 5 % for the bootstrap gate)\n")
    print("| stream | retrains judged | point rule (old) | paired bootstrap gate | of which: holdout too small |")
    print("|---|---|---|---|---|")
    everything: list[Judged] = []
    for name, make in streams:
        started = time.perf_counter()
        records = [r for seed in seeds for r in run_stream(make(seed), seed)]
        everything.extend(records)
        small = sum(r.too_small for r in records)
        print(f"| {name} | {len(records)} | {_share(records, 'point')} | {_share(records, 'bootstrap')} | {small} |")
        print(f"  ({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    small = sum(r.too_small for r in everything)
    print(
        f"| all | {len(everything)} | {_share(everything, 'point', True)} "
        f"| {_share(everything, 'bootstrap', True)} | {small} |"
    )

    # The control: the demo's drifting stream (drift from DRIFT_START). Retrains whose holdout holds the
    # drifted days should deploy; once the window is all drifted, nothing changes and skipping is right.
    records = [r for seed in seeds for r in run_stream(synthetic(seed, args.rows_per_day, 1.0), seed)]
    print("\nDrifting control (synthetic, drift strength 1.0 from " + DRIFT_START.isoformat() + ")\n")
    print("| retrain (window end) | point rule (old) | paired bootstrap gate |")
    print("|---|---|---|")
    for end in sorted({r.window_end for r in records}):
        at = [r for r in records if r.window_end == end]
        print(f"| {end} | {_share(at, 'point')} | {_share(at, 'bootstrap')} |")

    cost = bootstrap_cost()
    print(f"\nbootstrap cost, 10,000-row holdout, 1,000 resamples, ROC AUC of both models: {cost:.2f} s (goal < 2 s)")


if __name__ == "__main__":
    main()
