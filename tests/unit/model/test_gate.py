"""The gate as a table: threshold, improvement over the champion, no champion, ties, float noise, NaN."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from retrain.model.gate import GateDecision, decide

NAN = math.nan


@pytest.mark.parametrize(
    ("challenger", "champion", "threshold", "min_improvement", "deploy"),
    [
        pytest.param(0.90, None, 0.8, 0.0, True, id="no-champion-above-threshold"),
        pytest.param(0.70, None, 0.8, 0.0, False, id="no-champion-below-threshold"),
        pytest.param(0.80, None, 0.8, 0.0, True, id="exactly-at-threshold"),
        pytest.param(0.1 + 0.7, None, 0.8, 0.0, True, id="threshold-float-noise"),
        pytest.param(0.79, None, 0.8, 0.0, False, id="just-below-threshold"),
        pytest.param(0.90, 0.85, 0.8, 0.0, True, id="beats-champion"),
        pytest.param(0.90, 0.95, 0.8, 0.0, False, id="worse-than-champion"),
        pytest.param(0.90, 0.90, 0.8, 0.0, True, id="tie-with-zero-improvement-deploys"),
        pytest.param(0.90, 0.90, 0.8, 0.01, False, id="tie-with-positive-improvement-skips"),
        pytest.param(0.905, 0.90, 0.8, 0.01, False, id="gain-below-required"),
        pytest.param(0.91, 0.90, 0.8, 0.01, True, id="gain-at-required"),
        pytest.param(0.3, 0.2, 0.2, 0.1, True, id="improvement-float-noise"),
        pytest.param(0.95, 0.90, 0.99, 0.0, False, id="beats-champion-but-below-threshold"),
        pytest.param(NAN, None, 0.8, 0.0, False, id="nan-challenger-no-champion"),
        pytest.param(NAN, 0.85, 0.8, 0.0, False, id="nan-challenger"),
        pytest.param(0.95, NAN, 0.8, 0.0, False, id="nan-champion"),
    ],
)
def test_decide_table(
    challenger: float, champion: float | None, threshold: float, min_improvement: float, deploy: bool
) -> None:
    # given the scores and the gate's settings / when deciding
    decision = decide(challenger, champion, threshold=threshold, min_improvement=min_improvement, metric="roc_auc")
    # then the decision matches the rule in DESIGN.md, with one reason per rule
    assert decision.deploy is deploy
    assert decision.decision == ("deploy" if deploy else "skip")
    assert len(decision.reasons) == 2


def test_reasons_are_sentences_with_the_numbers() -> None:
    first = decide(0.9123, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    assert first.reasons == ["roc_auc 0.9123 ≥ threshold 0.8000", "no champion yet"]

    better = decide(0.9123, 0.8801, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    assert better.reasons[1] == "beats champion 0.8801 by 0.0322 ≥ 0.0000"

    worse = decide(0.75, 0.9, threshold=0.8, min_improvement=0.01, metric="f1")
    assert worse.reasons[0] == "f1 0.7500 < threshold 0.8000"
    assert "0.9000" in worse.reasons[1]
    assert "-0.1500" in worse.reasons[1]
    assert "0.0100" in worse.reasons[1]

    nan = decide(NAN, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    assert "NaN" in nan.reasons[0]


def test_decision_records_its_inputs_and_is_frozen() -> None:
    decision = decide(0.9, 0.85, threshold=0.8, min_improvement=0.02, metric="accuracy")
    assert (decision.challenger_score, decision.champion_score) == (0.9, 0.85)
    assert (decision.threshold, decision.min_improvement, decision.metric) == (0.8, 0.02, "accuracy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.deploy = False  # type: ignore[misc]


def test_to_dict_is_json_safe() -> None:
    # given a decision with a NaN score / when serialised / then it is strict JSON with null for NaN
    data = decide(NAN, 0.8, threshold=0.8, min_improvement=0.0, metric="roc_auc").to_dict()
    text = json.dumps(data, allow_nan=False)
    loaded = json.loads(text)
    assert loaded["challenger_score"] is None
    assert loaded["champion_score"] == 0.8
    assert loaded["deploy"] is False
    assert loaded["decision"] == "skip"
    assert set(loaded) == {f.name for f in dataclasses.fields(GateDecision)} | {"decision"}


@pytest.mark.parametrize(("threshold", "min_improvement"), [(NAN, 0.0), (0.8, NAN), (0.8, -0.1)])
def test_bad_gate_settings_are_errors(threshold: float, min_improvement: float) -> None:
    with pytest.raises(ValueError, match="min_improvement|threshold"):
        decide(0.9, None, threshold=threshold, min_improvement=min_improvement, metric="roc_auc")


def test_a_tie_is_called_a_tie_not_a_win() -> None:
    decision = decide(0.9, 0.9, threshold=0.5, min_improvement=0.0, metric="roc_auc")
    assert decision.reasons[1] == "ties champion 0.9000 (+0.0000 ≥ 0.0000)"
