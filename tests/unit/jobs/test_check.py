"""`retrain check`: the retrain steps on the reference sets, compared with the committed baseline.

The expensive part is training (a temporary MLflow store per run): the committed-baseline run covers
both sets once through the CLI (and shows that a run reproduces the committed one); the failing cases
use one set each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retrain.cli import app
from retrain.data.reference_sets import REFERENCE_SETS, write_penguin_days
from retrain.jobs.check import regression_verdict, unpaired_verdict

REPO = Path(__file__).resolve().parents[3]
BASELINE = REPO / "quality" / "baseline.json"


@pytest.fixture
def check_env(retrain_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No estimator setting and no GitHub summary from the developer's shell."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _check(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "--output", str(tmp_path / "out"), *args], env=env)
    return result.exit_code, result.output


# -- the rule, as a table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("high", "tolerance", "verdict"),
    [
        (-0.0101, 0.01, "fail"),  # surely worse by more than the tolerance
        (-0.0099, 0.01, "pass"),  # surely worse, but by less than the tolerance
        (0.002, 0.01, "pass"),  # the interval holds 0: not surely worse
        (-0.0001, 0.0, "fail"),  # no tolerance: any sure drop fails
        (0.0, 0.0, "pass"),  # identical models: an interval [0, 0] is not a drop
        (float("nan"), 0.01, "fail"),  # undefined: cannot show it is not worse
    ],
)
def test_the_paired_rule_fails_only_a_sure_drop_beyond_the_tolerance(
    high: float, tolerance: float, verdict: str
) -> None:
    verdict_, reason = regression_verdict("roc_auc", high, high - 0.01, high, tolerance=tolerance, confidence=0.95)
    assert verdict_ == verdict and "roc_auc" in reason


def test_the_unpaired_rule_compares_the_new_upper_bound_with_the_baseline_minus_the_tolerance() -> None:
    assert unpaired_verdict("roc_auc", 0.85, 0.87, 0.885, tolerance=0.01, confidence=0.95)[0] == "fail"
    assert unpaired_verdict("roc_auc", 0.85, 0.88, 0.885, tolerance=0.01, confidence=0.95)[0] == "pass"


# -- real runs --------------------------------------------------------------------------------------------


def test_the_check_passes_on_the_committed_baseline_and_reproduces_it(check_env: None, tmp_path: Path) -> None:
    # given: a copy of the committed baseline, the default estimator, a GitHub step summary file
    shutil.copytree(BASELINE.parent, tmp_path / "quality")
    copy = tmp_path / "quality" / "baseline.json"
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    # when: the check runs as CI runs it, and rewrites the copy from this run
    code, output = _check(
        tmp_path, "--baseline", str(copy), "--update-baseline", env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    # then: it passes, every set paired with the baseline model's rows; the summary went to GitHub too
    assert code == 0, output
    assert "Model quality check: passed" in output
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n") and "| synthetic | 1750 | roc_auc | 0.8853 |" in text
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8") == text.removeprefix("earlier step\n")
    for name in REFERENCE_SETS:
        report = (tmp_path / "out" / f"{name}.html").read_text(encoding="utf-8")
        assert "<svg" in report and "roc_auc" in report
        assert f"| {name} |" in output
    assert output.count("✅ pass") == len(REFERENCE_SETS)
    assert output.count("+0.0000 [+0.0000, +0.0000]") == len(REFERENCE_SETS)  # the same model: paired diff 0
    assert "checksum changed" not in output and "unpaired" not in output
    # and: this run reproduces the committed one (the run that recorded it) number for number, byte for byte
    written, committed = (json.loads(p.read_text(encoding="utf-8")) for p in (copy, BASELINE))
    assert written["data_sets"] == committed["data_sets"]
    for name in REFERENCE_SETS:
        assert (tmp_path / "quality" / f"{name}.csv").read_bytes() == (BASELINE.parent / f"{name}.csv").read_bytes()


def test_a_crippled_estimator_fails_the_check_with_a_clear_summary(check_env: None, tmp_path: Path) -> None:
    # given: the default estimator crippled to one boosting iteration
    env = {"RETRAIN_ESTIMATOR_PARAMS": '{"max_iter": 1}'}
    # when: the check runs against the committed baseline
    code, output = _check(tmp_path, "--baseline", str(BASELINE), "--data-set", "synthetic", env=env)
    # then: exit 1, and the summary says which set, by how much, and why it counts
    assert code == 1, output
    assert "Model quality check: FAILED" in output and "(max_iter=1)" in output
    assert "| synthetic |" in output and "❌ worse" in output
    assert "roc_auc surely worse than baseline" in output and "upper bound < -0.0100" in output


def test_shuffled_features_fail_the_check_and_warn_that_the_data_changed(check_env: None, tmp_path: Path) -> None:
    # given: the penguins' days with each day's feature rows shuffled against its labels (a broken join)
    source = tmp_path / "shuffled"
    ref = REFERENCE_SETS["penguins"]
    write_penguin_days(source, ref.days)
    rng = np.random.default_rng(0)
    for ds in ref.days:
        data = pd.read_csv(source / ds / "data.csv")
        data.iloc[rng.permutation(len(data))].to_csv(source / ds / "data.csv", index=False)
    # when: the check is pointed at that variant of the set
    code, output = _check(
        tmp_path, "--baseline", str(BASELINE), "--data-set", "penguins", "--source", f"penguins={source}"
    )
    # then: it fails on quality, and warns (without failing for it) that the data and holdout changed
    assert code == 1, output
    assert "❌ worse" in output and "surely below the baseline 1.0000" in output
    assert "checksum changed" in output and "rows cannot be paired" in output


def test_without_a_baseline_the_check_says_how_to_record_one(check_env: None, tmp_path: Path) -> None:
    baseline = tmp_path / "nowhere" / "baseline.json"
    code, output = _check(tmp_path, "--baseline", str(baseline))
    assert code == 2
    assert "retrain check --update-baseline" in output


def test_a_baseline_of_another_metric_is_refused_before_any_training(check_env: None, tmp_path: Path) -> None:
    code, output = _check(tmp_path, "--baseline", str(BASELINE), env={"RETRAIN_METRIC": "accuracy"})
    assert code == 2
    assert "recorded for roc_auc" in output and "RETRAIN_METRIC=roc_auc" in output
    assert not (tmp_path / "out").exists()
