"""The quality check CI runs on every push: retrain on fixed reference data, compare with a committed baseline.

`retrain check` answers "does this change of code (a new default estimator, a changed feature
preparation, a dependency bump) make the model worse?" before the change is merged, without Airflow
or an MLflow server. For each reference data set (`retrain.data.reference_sets`) it:

1. lands the set's days in a temporary home exactly as the `generate_data` DAG does (`LandDay`);
2. runs the `retrain` DAG's own steps on them (`RetrainJob.prepare → validate → split → train →
   evaluate`; a temporary SQLite MLflow store), so the configured estimator (`RETRAIN_ESTIMATOR`,
   `RETRAIN_ESTIMATOR_PARAMS`) is trained and scored by the production code on a seeded holdout;
3. compares the new model's holdout probabilities with the baseline model's, stored beside the
   baseline file (`quality/{set}.csv`), with the gate's paired bootstrap (`retrain.model.compare`).

The statistic (the gate's rule with the roles swapped). Both models are scored on the same holdout
rows; B resamples of the rows (1,000, seeded) give the paired percentile interval of new − baseline
at 95 % two-sided confidence. The check fails a set iff the interval's upper bound is below
−`tolerance` (and below 0): with 97.5 % confidence the new model is worse than the baseline by more
than the tolerance. That is exactly when the gate would deploy the baseline over the new model with
`RETRAIN_MIN_IMPROVEMENT = tolerance`. A difference "by a hair", or one the holdout cannot resolve,
passes. The tolerance (0.01 by default) lives in the baseline file, so a change of it shows in review.

When the holdout is not the baseline's (its SHA-256 differs: the data set, the split or a library
that writes them changed), rows cannot be paired: the check warns and falls back to the unpaired
rule, failing iff the upper bound of the new model's own interval is below the baseline's score minus
the tolerance. A changed data checksum or library version is a warning, never a failure by itself.

`--update-baseline` writes the baseline from this run on purpose (scores, intervals, checksums,
library versions, and the holdout probabilities), so the diff shows the change in review.
"""

from __future__ import annotations

import logging
import math
import platform
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from retrain.data.reference_sets import FIXED_ENV, REFERENCE_SETS, USER_SETTINGS, ReferenceSet
from retrain.errors import ConfigurationError
from retrain.jobs.check_results import CheckResult, SetResult, Verdict, summary_markdown

__all__ = ["BaselineError", "CheckResult", "QualityCheck", "SetResult", "Verdict", "summary_markdown"]

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 0.01
"""How much worse (in the metric's units) the new model may surely be before the check fails."""
BASELINE_FORMAT = 1
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "pyarrow")
"""The libraries whose versions can change a model's numbers: recorded, and a change is warned about."""
DECIMALS = 6
"""Probabilities are stored with 6 decimals: a reviewable file, and a difference far below any tolerance."""


class BaselineError(ConfigurationError):
    """The baseline file cannot be used (missing, another metric, unreadable); the message says how to fix it."""


def library_versions() -> dict[str, str]:
    """Python's and `LIBRARIES`' versions, as the baseline records them."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def regression_verdict(
    metric: str, diff: float, low: float, high: float, *, tolerance: float, confidence: float
) -> tuple[Verdict, str]:
    """The paired rule: fail iff the upper bound of new − baseline is below −tolerance and below 0.

    Args:
        metric: The metric's name, for the sentence.
        diff: new − baseline on the whole holdout.
        low, high: The paired percentile interval of new − baseline.
        tolerance: The drop allowed (>= 0), in the metric's units.
        confidence: The interval's two-sided confidence, for the sentence.

    Returns:
        (`pass` or `fail`, a sentence with the numbers). An undefined interval (NaN) fails: nothing
        shows the model is not worse.
    """
    interval = f"{confidence:.0%} CI [{low:+.4f}, {high:+.4f}]"
    if math.isnan(high):
        return "fail", f"{metric} new − baseline is undefined on every resample: cannot show the model is not worse"
    if high < -tolerance and high < 0:
        return "fail", f"{metric} surely worse than baseline: {diff:+.4f}, {interval}: upper bound < {-tolerance:.4f}"
    return "pass", f"{metric} not surely worse than baseline: {diff:+.4f}, {interval}: upper bound ≥ {-tolerance:.4f}"


def unpaired_verdict(
    metric: str, score: float, high: float, baseline_score: float, *, tolerance: float, confidence: float
) -> tuple[Verdict, str]:
    """The fallback when rows cannot be paired: fail iff the new interval's upper bound < baseline − tolerance.

    Args:
        metric: The metric's name, for the sentence.
        score, high: The new model's score and the upper bound of its own bootstrap interval.
        baseline_score: The baseline's recorded score.
        tolerance, confidence: As in `regression_verdict`.
    """
    limit = baseline_score - tolerance
    if math.isnan(high) or high < limit:
        return "fail", (
            f"{metric} {score:.4f} surely below the baseline {baseline_score:.4f}: "
            f"{confidence:.0%} CI upper bound {high:.4f} < {limit:.4f} (baseline − {tolerance:.4f}; unpaired)"
        )
    return "pass", (
        f"{metric} {score:.4f} vs baseline {baseline_score:.4f}: {confidence:.0%} CI upper bound {high:.4f} "
        f"≥ {limit:.4f} (baseline − {tolerance:.4f}; unpaired)"
    )


@dataclass(frozen=True)
class _Trained:
    """What the retrain steps left for one set: the new model's holdout probabilities and records."""

    y: Any
    classes: list[str]
    proba: Any
    scores: dict[str, float]
    train_rows: int
    holdout_rows: int
    data_sha256: str
    holdout_sha256: str
    report: Path


@dataclass
class QualityCheck:
    """The check on the committed baseline `baseline` (a JSON file; the probabilities sit beside it).

    Args:
        baseline: Path of the baseline JSON (`quality/baseline.json` in this repository).
        output: Folder for the artifacts: one retrain report per set (`{set}.html`) and `summary.md`.
        environ: Where the configured estimator, its params and the metric are read (`USER_SETTINGS`).
        sources: Per set, a folder of days (`{ds}/data.csv`, `{ds}/target.csv`) to use instead of
            the built-in data (a variant of the set, e.g. one whose features were shuffled).
    """

    baseline: Path
    output: Path
    environ: Mapping[str, str]
    sources: Mapping[str, Path] = field(default_factory=dict)

    def run(self, names: Iterable[str] | None = None, *, update_baseline: bool = False) -> CheckResult:
        """Train, score and compare every set in `names` (default: every built-in set).

        Raises:
            BaselineError: No baseline file (and not `update_baseline`), or one recorded for another metric.
            ConfigurationError: An unknown set name, or a bad estimator setting.
        """
        names = list(names or REFERENCE_SETS)
        unknown = sorted(set(names) - set(REFERENCE_SETS))
        if unknown:
            raise ConfigurationError(f"unknown reference set(s) {unknown}; choose from {sorted(REFERENCE_SETS)}")
        unknown = sorted(set(self.sources) - set(REFERENCE_SETS))
        if unknown:
            raise ConfigurationError(f"--source names unknown set(s) {unknown}; choose from {sorted(REFERENCE_SETS)}")
        baseline = self._read_baseline(required=not update_baseline)
        tolerance = float(baseline.get("tolerance", DEFAULT_TOLERANCE))
        settings_env = {k: self.environ[k] for k in USER_SETTINGS if self.environ.get(k) is not None}
        if not update_baseline:
            self._check_metric(baseline, names, settings_env)
        self.output.mkdir(parents=True, exist_ok=True)
        versions = library_versions()
        warnings = self._general_warnings(baseline, versions)
        results: list[SetResult] = []
        with tempfile.TemporaryDirectory(prefix="retrain-check-") as tmp:
            settings = None
            for name in names:
                ref = REFERENCE_SETS[name]
                settings, trained = self._train(ref, Path(tmp), settings_env)
                entry = (baseline.get("data_sets") or {}).get(name)
                results.append(self._compare(ref, settings, trained, entry, tolerance))
                if update_baseline:
                    self._write_probabilities(name, trained)
            assert settings is not None  # at least one set ran
        result = CheckResult(
            sets=results,
            estimator=settings.estimator,
            estimator_params=dict(settings.estimator_params),
            tolerance=tolerance,
            confidence=settings.gate_confidence,
            versions=versions,
            warnings=warnings,
            baseline=str(self.baseline),
            baseline_written=update_baseline,
        )
        if update_baseline:
            self._write_baseline(result, baseline)
        return result

    def _check_metric(self, baseline: dict[str, Any], names: list[str], settings_env: dict[str, str]) -> None:
        """Scores of one metric cannot be compared with another's: refuse before any training."""
        from retrain.settings import load_settings

        metric = load_settings(settings_env).metric
        for name in names:
            recorded = ((baseline.get("data_sets") or {}).get(name) or {}).get("metric", metric)
            if recorded != metric:
                raise BaselineError(
                    f"{self.baseline} was recorded for {recorded} on {name}, not RETRAIN_METRIC={metric}: "
                    f"set RETRAIN_METRIC={recorded}, or record a new baseline with `retrain check --update-baseline`"
                )

    # -- the retrain DAG's steps on one set -----------------------------------------------------------

    def _train(self, ref: ReferenceSet, tmp: Path, user_env: dict[str, str]) -> tuple[Any, _Trained]:
        from retrain.io import sha256_file
        from retrain.jobs.land import LandDay
        from retrain.jobs.retrain import RetrainJob
        from retrain.layout import Layout
        from retrain.settings import load_settings

        # One home (one MLflow store: creating a SQLite store costs seconds) and one data folder per set.
        folder = tmp / ref.name
        env = {**user_env, **FIXED_ENV, **ref.env, "RETRAIN_HOME": str(tmp), "RETRAIN_DATA_DIR": str(folder / "data")}
        days = ref.days
        source = self.sources.get(ref.name)
        if source is None and ref.write_source is not None:
            source = folder / "source"
            ref.write_source(source, days)
        if source is not None:
            env["RETRAIN_SOURCE"] = str(source)
            days = tuple(sorted(p.name for p in Path(source).iterdir() if p.is_dir()))
            if not days:
                raise ConfigurationError(f"{source} holds no day folders ({{ds}}/data.csv, {{ds}}/target.csv)")
        settings = load_settings(env)
        layout = Layout(settings.data_dir)
        lander = LandDay(settings, layout)
        for ds in days:
            lander.run(ds)
        job = RetrainJob(settings, layout)
        run = job.prepare(days[-1], "manual")
        run = job.train(job.split(job.validate(run)))
        evaluated = job.evaluate(run)
        y, classes, proba = read_probabilities(layout.holdout_scores_file(run.ds), "challenger_")
        report = self.output / f"{ref.name}.html"
        shutil.copyfile(layout.report_file(run.ds), report)
        data_sha = _sha256_of([sha256_file(f) for ds in days for f in (layout.raw_data(ds), layout.raw_target(ds))])
        return settings, _Trained(
            y=y,
            classes=classes,
            proba=proba,
            scores=dict(evaluated.scores.challenger),
            train_rows=int(run.train_rows or 0),
            holdout_rows=int(run.holdout_rows or 0),
            data_sha256=data_sha,
            holdout_sha256=sha256_file(layout.holdout_file(run.ds)),
            report=report,
        )

    # -- the comparison -------------------------------------------------------------------------------

    def _compare(
        self, ref: ReferenceSet, settings: Any, trained: _Trained, entry: dict[str, Any] | None, tolerance: float
    ) -> SetResult:
        from retrain.model.compare import paired_bootstrap

        metric, confidence = settings.metric, settings.gate_confidence
        baseline_proba = None
        warnings: list[str] = []
        if entry is not None:
            if entry.get("data_sha256") != trained.data_sha256:
                warnings.append(
                    f"{ref.name}: the data set's checksum changed (baseline {str(entry.get('data_sha256'))[:12]}…, "
                    f"now {trained.data_sha256[:12]}…): the data or the way it is written changed"
                )
            baseline_proba = self._paired_probabilities(ref.name, entry, trained, warnings)
        comparison = paired_bootstrap(
            metric,
            trained.y,
            trained.classes,
            trained.proba,
            baseline_proba,
            confidence=confidence,
            resamples=settings.gate_resamples,
            seed=settings.seed,
        )
        score = float(trained.scores[metric])
        common = {
            "name": ref.name,
            "description": ref.description,
            "metric": metric,
            "score": score,
            "ci_low": comparison.challenger.low,
            "ci_high": comparison.challenger.high,
            "scores": trained.scores,
            "train_rows": trained.train_rows,
            "holdout_rows": trained.holdout_rows,
            "data_sha256": trained.data_sha256,
            "holdout_sha256": trained.holdout_sha256,
            "warnings": warnings,
            "report": str(trained.report),
        }
        if entry is None:
            return SetResult(**common, verdict="new", reason=f"no baseline for {ref.name} yet: nothing to compare")
        base_score = float(entry["score"])
        base = {
            "baseline_score": base_score,
            "baseline_ci_low": entry.get("ci_low"),
            "baseline_ci_high": entry.get("ci_high"),
            "diff": score - base_score,
        }
        if comparison.difference is not None:
            low, high = comparison.difference.low, comparison.difference.high
            verdict, reason = regression_verdict(
                metric, score - base_score, low, high, tolerance=tolerance, confidence=confidence
            )
            return SetResult(
                **common, **base, diff_low=low, diff_high=high, paired=True, verdict=verdict, reason=reason
            )
        verdict, reason = unpaired_verdict(
            metric, score, comparison.challenger.high, base_score, tolerance=tolerance, confidence=confidence
        )
        return SetResult(**common, **base, verdict=verdict, reason=reason)

    def _paired_probabilities(
        self, name: str, entry: dict[str, Any], trained: _Trained, warnings: list[str]
    ) -> Any | None:
        """The baseline model's probabilities on this holdout, in the new model's class order, or None."""
        if entry.get("holdout_sha256") != trained.holdout_sha256:
            warnings.append(
                f"{name}: the holdout is not the baseline's (its SHA-256 changed), so rows cannot be paired: "
                "compared with the unpaired rule"
            )
            return None
        path = self.baseline.parent / str(entry.get("predictions", f"{name}.csv"))
        if not path.is_file():
            warnings.append(f"{name}: {path} is missing: compared with the unpaired rule")
            return None
        y, classes, proba = read_probabilities(path, "probability_")
        if list(y) != list(trained.y) or set(classes) != set(trained.classes):
            warnings.append(f"{name}: {path} holds other rows or classes than this holdout: compared unpaired")
            return None
        return proba[:, [classes.index(c) for c in trained.classes]]

    # -- the baseline file ------------------------------------------------------------------------------

    def _read_baseline(self, *, required: bool) -> dict[str, Any]:
        from retrain.io import read_json

        if not self.baseline.is_file():
            if required:
                raise BaselineError(
                    f"no baseline at {self.baseline}: record one on purpose with `retrain check --update-baseline` "
                    "and commit it (the probabilities files beside it too)"
                )
            return {}
        try:
            data = read_json(self.baseline)
        except ValueError as exc:
            raise BaselineError(f"{self.baseline} is not valid JSON ({exc}): restore it from git") from None
        if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
            raise BaselineError(
                f"{self.baseline} is not a baseline of format {BASELINE_FORMAT}: "
                "rewrite it with `retrain check --update-baseline`"
            )
        return data

    def _general_warnings(self, baseline: dict[str, Any], versions: dict[str, str]) -> list[str]:
        warnings = []
        recorded = baseline.get("versions") or {}
        changed = [f"{k} {recorded[k]} → {v}" for k, v in versions.items() if k in recorded and recorded[k] != v]
        if changed:
            warnings.append("library versions differ from the baseline's: " + ", ".join(changed))
        return warnings

    def _write_probabilities(self, name: str, trained: _Trained) -> Path:
        import pandas as pd

        from retrain.io import atomic_path

        columns: dict[str, Any] = {"target": list(trained.y)}
        for i, c in enumerate(trained.classes):
            columns[f"probability_{c}"] = trained.proba[:, i].round(DECIMALS)
        path = self.baseline.parent / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            pd.DataFrame(columns).to_csv(tmp, index=False, float_format=f"%.{DECIMALS}f")
        return path

    def _write_baseline(self, result: CheckResult, old: dict[str, Any]) -> Path:
        from retrain.io import write_json

        sets = dict(old.get("data_sets") or {})
        for s in result.sets:
            sets[s.name] = {
                "description": s.description,
                "metric": s.metric,
                "score": _round(s.score),
                "ci_low": _round(s.ci_low),
                "ci_high": _round(s.ci_high),
                "scores": {k: _round(v) for k, v in s.scores.items()},
                "train_rows": s.train_rows,
                "holdout_rows": s.holdout_rows,
                "data_sha256": s.data_sha256,
                "holdout_sha256": s.holdout_sha256,
                "predictions": f"{s.name}.csv",
            }
        data = {
            "format": BASELINE_FORMAT,
            "about": "written by `retrain check --update-baseline`; see src/retrain/jobs/check.py",
            "tolerance": result.tolerance,
            "confidence": result.confidence,
            "estimator": result.estimator,
            "estimator_params": result.estimator_params,
            "versions": result.versions,
            "data_sets": sets,
        }
        return write_json(self.baseline, data)


def read_probabilities(path: Path, prefix: str) -> tuple[Any, list[str], Any]:
    """(labels as text, class labels as text, probabilities rows × classes) from a scores CSV.

    Labels are compared as text: a baseline file read back has lost the label's type, and equality
    of the text is all the bootstrap needs (it encodes labels as indices into `classes`).
    """
    import pandas as pd

    frame = pd.read_csv(path, dtype={"target": str})
    columns = [c for c in frame.columns if c.startswith(prefix)]
    classes = [c.removeprefix(prefix) for c in columns]
    return frame["target"].astype(str).to_numpy(), classes, frame[columns].to_numpy(dtype="float64")


def _sha256_of(parts: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), DECIMALS)
