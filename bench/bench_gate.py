"""Benchmark of the gate (issue 12): how often does it deploy on a stream where nothing changed?

    python bench/bench_gate.py [--seeds 20] [--control-seeds 5] [--rows-per-day 500]

What the retrain job does for a weekly retrain is replayed in process, with the job's own functions and
the default settings (`retrain.settings.Settings()`): the window of `RETRAIN_WINDOW_DAYS` (14) days,
the freshest `RETRAIN_HOLDOUT_DAYS` (7) held out at `RETRAIN_HOLDOUT_FRACTION` (`split_window`),
`RETRAIN_ESTIMATOR` built and fitted as the job does (`build_estimator`, `fit`: HistGradientBoosting with
its preprocessing), both models' probabilities computed once (`class_probabilities`), the scores
(`metrics_from_proba`) and the decision (`decide_paired` with `GatePolicy.from_settings`, the stream's
seed seeding the resampling). Only the MLflow logging, the files and the report of `RetrainJob` are left
out (seconds a retrain, and no part of the decision), and Airflow is not involved.

Streams with no change, several seeds each:
- `synthetic`: the project's generator with drift strength 0 (60 days of `--rows-per-day`);
- `breast_cancer`, `digits (label >= 5)`: scikit-learn's bundled real data sets (569 and 1,797 rows), rows
  shuffled at random into 28 days (no change by construction).
A control: the demo's drifting stream (its settings: 2,000 rows x 10 features a day, strength 1.0 from
2025-12-15, ramping in over 7 days; the demo's seed 42 and a few more): the retrains whose holdout holds
the drift should deploy.

Each challenger is judged in the same process by the old point rule (`RETRAIN_GATE_METHOD=point` at
`RETRAIN_MIN_IMPROVEMENT` 0) and by the default gate; each rule keeps its own champion. The table shows
the share of the retrains after the first that deploy (goal on the no-change streams: <= 5 %), with the
Wilson 95 % interval of the share (few dozen retrains cannot tell 6 % from 3 %). On the synthetic
stream every model is also scored on 20,000 fresh rows of the same (unchanged) distribution: a deploy
of a challenger that is really better there is not noise but a better model.

Costs, in the same process: the gate's bootstrap on a 10,000-row holdout (goal: adds < 2 s to a retrain)
next to the fit of the default estimator on 30,000 rows.
One OpenMP thread (set below, before numpy and scikit-learn load): on a shared 2-core machine OpenMP
threads spinning against other work made a run take many times longer.
Numbers are the record; tests never assert them.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from retrain.data.generate import drift_level, generate_day  # noqa: E402
from retrain.data.prepare import split_window  # noqa: E402
from retrain.model.compare import paired_bootstrap  # noqa: E402
from retrain.model.evaluate import class_probabilities, metrics_from_proba  # noqa: E402
from retrain.model.gate import GatePolicy, decide_paired  # noqa: E402
from retrain.model.train import build_estimator, fit  # noqa: E402
from retrain.settings import Settings  # noqa: E402

START = date(2025, 12, 1)
EVERY = 7
"""The `retrain` DAG's `@weekly` schedule."""
RULES = ("point", "gate")
POPULATION_ROWS = 20_000

Frames = dict[str, tuple[pd.DataFrame, pd.Series]]


@dataclass
class Judged:
    """One retrain after the first of a stream: each rule's decision and the default gate's numbers."""

    seed: int
    window_end: str
    holdout_rows: int
    deploy: dict[str, bool] = field(default_factory=dict)
    too_small: bool = False
    gain: float = float("nan")
    ci_low: float | None = None
    true_gain: float | None = None
    """Challenger − champion (the gate's) on POPULATION_ROWS fresh rows (synthetic streams only)."""
    drift: tuple[float, float] = (0.0, 0.0)
    """The least and the most drifted holdout day, as a share of the full drift (the drifting control)."""


def _days(n: int) -> list[str]:
    return [(START + timedelta(days=i)).isoformat() for i in range(n)]


def synthetic(seed: int, rows: int, strength: float, days: int = 60, drift_start: date | None = None) -> Frames:
    """The project's generator: `days` days of `rows` rows x 10 features, drifting from `drift_start` at `strength`."""
    return {
        ds: generate_day(ds, rows=rows, n_features=10, seed=seed, drift_start=drift_start, drift_strength=strength)
        for ds in _days(days)
    }


def population(seed: int) -> tuple[pd.DataFrame, Any]:
    """POPULATION_ROWS rows of the unchanged synthetic stream of `seed` (a day far after the bench's)."""
    X, y = generate_day(
        "2030-01-01", rows=POPULATION_ROWS, n_features=10, seed=seed, drift_start=None, drift_strength=0.0
    )
    return X, y.to_numpy()


def bundled(name: str, seed: int, days: int = 28) -> Frames:
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


def run_stream(
    frames: Frames,
    seed: int,
    settings: Settings,
    truth: tuple[pd.DataFrame, Any] | None = None,
    drift_start: date | None = None,
) -> list[Judged]:
    """Weekly retrains over the stream, as the retrain job does them; each rule's decision after the first."""
    days = list(frames)
    window_days, holdout_days = settings.window_days, settings.holdout_days
    policies = {
        "point": GatePolicy.from_settings(settings.model_copy(update={"gate_method": "point", "seed": seed})),
        "gate": GatePolicy.from_settings(settings.model_copy(update={"seed": seed})),
    }
    champions: dict[str, Any] = dict.fromkeys(RULES)
    true_scores: dict[int, tuple[Any, float]] = {}  # id(model) -> (model, its score on `truth`), once per model
    judged: list[Judged] = []
    for end in range(window_days, len(days) + 1, EVERY):
        window = days[end - window_days : end]
        fresh = window[-holdout_days:]
        train, holdout = split_window({d: frames[d] for d in window}, fresh, settings.holdout_fraction, seed)
        features = [c for c in train.columns if c not in ("target", "ds")]
        estimator = build_estimator(settings.estimator, settings.estimator_params, seed)
        model = fit(estimator, train[features], train["target"])
        X, y = holdout[features], holdout["target"].to_numpy()
        classes, challenger = class_probabilities(model, X)
        challenger_score = metrics_from_proba(y, challenger, classes, [settings.metric])[settings.metric]
        record = None
        if champions["gate"] is not None:
            record = Judged(seed, window[-1], len(y))
            levels = [drift_level(d, drift_start) for d in fresh]
            record.drift = (min(levels), max(levels))
        for rule in RULES:
            champion = champions[rule]
            champion_proba = None if champion is None else class_probabilities(champion, X)[1]
            champion_score = (
                None
                if champion_proba is None
                else metrics_from_proba(y, champion_proba, classes, [settings.metric])[settings.metric]
            )
            decision = decide_paired(
                settings.metric,
                y,
                classes,
                challenger,
                champion_proba,
                challenger_score=challenger_score,
                champion_score=champion_score,
                policy=policies[rule],
            )
            if record is not None:
                record.deploy[rule] = decision.deploy
            if rule == "gate" and record is not None:
                record.too_small = any("too small" in r for r in decision.reasons)
                record.gain = challenger_score - float(champion_score)  # type: ignore[arg-type]
                record.ci_low = decision.ci_low
                if truth is not None:
                    Xp, yp = truth
                    for m in (model, champion):
                        if id(m) not in true_scores:
                            proba = class_probabilities(m, Xp)[1]
                            true_scores[id(m)] = (
                                m,
                                metrics_from_proba(yp, proba, classes, [settings.metric])[settings.metric],
                            )
                    record.true_gain = true_scores[id(model)][1] - true_scores[id(champion)][1]
            if decision.deploy or champion is None:  # the first model becomes the champion (no champion yet)
                champions[rule] = model
        if record is not None:
            judged.append(record)
    return judged


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927; Agresti & Coull 1998): how sure a share of
    a few dozen retrains is. 3 deploys in 50 is 6 %, but anything from about 2 % to 16 %."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _share(records: list[Judged], rule: str, interval: bool = False) -> str:
    deployed = sum(r.deploy[rule] for r in records)
    text = f"{deployed}/{len(records)} ({deployed / max(len(records), 1):.1%}"
    if interval:
        low, high = wilson(deployed, len(records))
        text += f"; 95 % CI {low:.1%}–{high:.1%}"
    return text + ")"


def _truly_better(records: list[Judged]) -> str:
    """How many of the gate's deploys were of a challenger really better on fresh rows, and by how much."""
    if not any(r.true_gain is not None for r in records):
        return "n/a"
    gains = [r.true_gain for r in records if r.deploy["gate"] and r.true_gain is not None]
    better = sum(g > 0 for g in gains)
    text = f"{better} of {len(gains)}"
    if gains:
        text += f" (true gains {min(gains):+.4f} … {max(gains):+.4f})"
    judged = sum(r.true_gain is not None for r in records)
    return text + f"; not better yet deployed: {len(gains) - better}/{judged} ({(len(gains) - better) / judged:.1%})"


def bootstrap_cost(settings: Settings, rows: int = 10_000, repeats: int = 3) -> tuple[float, float, float]:
    """Median wall and CPU seconds of the gate's bootstrap on a `rows`-row holdout, and wall seconds of one
    default fit on 3 × rows.

    The bootstrap is what the interval gate adds to a retrain (the point rule scores the same
    probabilities once); the fit is there for scale, measured in the same process.
    """
    X, y = generate_day("2026-01-01", rows=4 * rows, n_features=20, seed=3, drift_start=None, drift_strength=0)
    train_X, train_y, hold_X, hold_y = X[rows:], y[rows:], X[:rows], y[:rows].to_numpy()
    started = time.perf_counter()
    model = fit(build_estimator(settings.estimator, settings.estimator_params, 0), train_X, train_y)
    fit_s = time.perf_counter() - started
    other = fit(build_estimator(settings.estimator, settings.estimator_params, 1), train_X[:rows], train_y[:rows])
    classes, challenger = class_probabilities(model, hold_X)
    champion = class_probabilities(other, hold_X)[1]
    times, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        paired_bootstrap(
            settings.metric,
            hold_y,
            classes,
            challenger,
            champion,
            confidence=settings.gate_confidence,
            resamples=settings.gate_resamples,
            seed=settings.seed,
        )
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(times), statistics.median(cpu), fit_s


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per stream (default 20)")
    parser.add_argument("--control-seeds", type=int, default=5, help="seeds of the drifting control (default 5)")
    parser.add_argument("--rows-per-day", type=int, default=500, help="synthetic rows per day (default 500)")
    args = parser.parse_args()
    settings = Settings()
    started_all = time.perf_counter()
    streams = [
        (f"synthetic, drift 0, {args.rows_per_day} rows/day, 60 days", lambda s: synthetic(s, args.rows_per_day, 0.0)),
        ("breast_cancer, shuffled into 28 days", lambda s: bundled("breast_cancer", s)),
        ("digits (label ≥ 5), shuffled into 28 days", lambda s: bundled("digits", s)),
    ]
    seeds = range(args.seeds)
    print(
        f"# gate benchmark: Python {platform.python_version()}, {platform.machine()}, seeds 0..{args.seeds - 1}, "
        f"{settings.estimator.rsplit('.', 1)[-1]}, gate {settings.gate_method} at {settings.gate_confidence:.0%}, "
        f"{settings.gate_resamples} resamples, min improvement {settings.min_improvement}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print("\nNo real change: share of the retrains after the first that deploy (goal ≤ 5 %)\n")
    print(
        "| stream | holdout rows | retrains judged | point rule (old) | interval gate "
        "| gate deploys of a truly better challenger* | holdout too small |"
    )
    print("|---|---|---|---|---|---|---|")
    everything: list[Judged] = []
    for name, make in streams:
        started = time.perf_counter()
        records = []
        for seed in seeds:
            truth = population(seed) if name.startswith("synthetic") else None
            records.extend(run_stream(make(seed), seed, settings, truth))
        everything.extend(records)
        rows = int(statistics.median(r.holdout_rows for r in records))
        small = sum(r.too_small for r in records)
        print(
            f"| {name} | {rows} | {len(records)} | {_share(records, 'point')} | {_share(records, 'gate', True)} "
            f"| {_truly_better(records)} | {small} |"
        )
        print(f"  ({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    small = sum(r.too_small for r in everything)
    print(
        f"| all | | {len(everything)} | {_share(everything, 'point')} | {_share(everything, 'gate', True)} "
        f"| {_truly_better(everything)} | {small} |"
    )
    print(f"\n*challenger − champion > 0 on {POPULATION_ROWS:,} fresh rows of the same distribution (synthetic only)")

    # The control: the demo's drifting stream. Retrains whose holdout holds drifted days should deploy;
    # once the champion was trained on drifted days, nothing changes any more and skipping is right.
    started = time.perf_counter()
    drift_start = settings.drift_start or date(2025, 12, 15)  # the demo's start
    control = [settings.seed, *range(args.control_seeds - 1)]
    records = [
        r
        for seed in control
        for r in run_stream(
            synthetic(seed, settings.rows_per_day, settings.drift_strength, 42, drift_start),
            seed,
            settings,
            drift_start=drift_start,
        )
    ]
    print(f"  (drifting control: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print(
        f"\nDrifting control: the demo's stream ({settings.rows_per_day:,} rows x 10 features a day, drift strength "
        f"{settings.drift_strength} from {drift_start}, ramping in over 7 days), seeds {', '.join(map(str, control))}\n"
    )
    print("| retrain (window end) | drift in its holdout days (share of full) | point rule (old) | interval gate |")
    print("|---|---|---|---|")
    for end in sorted({r.window_end for r in records}):
        at = [r for r in records if r.window_end == end]
        low, high = at[0].drift
        drift = f"{low:.0%}" if low == high else f"{low:.0%}–{high:.0%}"
        print(f"| {end} | {drift} | {_share(at, 'point')} | {_share(at, 'gate')} |")

    boot_s, boot_cpu, fit_s = bootstrap_cost(settings)
    print(
        f"\nCost: the gate's bootstrap ({settings.gate_resamples} resamples, {settings.metric} of both models) on a "
        f"10,000-row holdout adds {boot_s:.2f} s ({boot_cpu:.2f} s CPU) to a retrain (goal < 2 s); "
        f"the default estimator's fit on "
        f"30,000 rows × 20 features takes {fit_s:.2f} s in the same process."
    )
    print(
        f"Total {time.perf_counter() - started_all:.0f} s; load average now "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
