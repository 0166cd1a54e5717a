"""The interval gate as a table: clear win, tie, noise, tiny holdout, undefined metric, the point rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from retrain.model.gate import GateDecision, GatePolicy, decide_paired

POLICY = GatePolicy(threshold=0.6, min_improvement=0.0, resamples=500, seed=1)


def _model(y: np.ndarray, signal: float, seed: int) -> np.ndarray:
    """Probabilities of a model whose score carries `signal` of the label plus its own noise."""
    noise = np.random.default_rng(seed).normal(size=len(y))
    p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + noise)))
    return np.column_stack([1 - p, p])


def _labels(rows: int, positives: int, seed: int = 0) -> np.ndarray:
    y = np.zeros(rows, dtype=int)
    y[:positives] = 1
    return np.random.default_rng(seed).permutation(y)


def _gate(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray | None, policy: GatePolicy = POLICY):
    def score(p: np.ndarray) -> float:
        return float(roc_auc_score(y, p[:, 1])) if len(set(y)) == 2 else math.nan

    return decide_paired(
        "roc_auc",
        y,
        [0, 1],
        challenger,
        champion,
        challenger_score=score(challenger),
        champion_score=None if champion is None else score(champion),
        policy=policy,
    )


Y = _labels(1000, 500)
CASES = {
    # name: (labels, challenger, champion, policy, deploy, a phrase of the reasons)
    "clear win": (Y, _model(Y, 2.0, 1), _model(Y, 0.8, 2), POLICY, True, "beats champion"),
    "same model again": (Y, _model(Y, 1.0, 1), _model(Y, 1.0, 1), POLICY, False, "lower bound not above 0"),
    "tie: equal quality, other noise": (Y, _model(Y, 1.0, 3), _model(Y, 1.0, 4), POLICY, False, "no sure gain"),
    "noise: a hair better": (Y, _model(Y, 1.05, 5), _model(Y, 1.0, 6), POLICY, False, "no sure gain"),
    "win short of the required margin": (
        Y,
        _model(Y, 2.0, 1),
        _model(Y, 0.8, 2),
        GatePolicy(threshold=0.6, min_improvement=0.3, resamples=500),
        False,
        "lower bound < 0.3000",
    ),
    "first model": (Y, _model(Y, 1.0, 1), None, POLICY, True, "no champion yet"),
    "first model below the threshold": (Y, _model(Y, 0.1, 1), None, POLICY, False, "< threshold"),
    "tiny holdout": (
        _labels(26, 13),
        _model(_labels(26, 13), 3.0, 1),
        None,
        POLICY,
        False,
        "26 rows < RETRAIN_GATE_MIN_ROWS 50",
    ),
    "rare class": (
        _labels(455, 8),
        _model(_labels(455, 8), 3.0, 1),
        _model(_labels(455, 8), 1.0, 2),
        POLICY,
        False,
        "8 rows of class 1 < RETRAIN_GATE_MIN_CLASS_ROWS 10",
    ),
    "undefined on many resamples": (
        _labels(50, 2),
        _model(_labels(50, 2), 3.0, 1),
        _model(_labels(50, 2), 0.5, 2),
        GatePolicy(threshold=0.5, min_class_rows=1, resamples=500),
        False,
        "undefined on",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_interval_gate_table(name: str) -> None:
    y, challenger, champion, policy, deploy, phrase = CASES[name]
    decision = _gate(y, challenger, champion, policy)
    assert decision.deploy is deploy, decision.reasons
    assert any(phrase in r for r in decision.reasons), decision.reasons
    assert decision.method == "bootstrap" and decision.holdout_rows == len(y)


def test_clear_win_carries_both_intervals() -> None:
    d = _gate(Y, _model(Y, 2.0, 1), _model(Y, 0.8, 2))
    assert d.ci_low is not None and d.ci_high is not None
    assert 0 < d.ci_low < d.challenger_score - d.champion_score < d.ci_high
    assert d.challenger_ci_low < d.challenger_score < d.challenger_ci_high
    assert "95% CI" in d.reasons[0] and "95% CI" in d.reasons[1]
    assert d.confidence == 0.95


def test_the_interval_is_reproducible() -> None:
    first = _gate(Y, _model(Y, 1.0, 3), _model(Y, 1.0, 4))
    again = _gate(Y, _model(Y, 1.0, 3), _model(Y, 1.0, 4))
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.ci_low < 0 < first.ci_high


def test_noise_that_the_point_rule_deploys_the_interval_skips() -> None:
    # given a challenger better by a hair (the "newer data always wins" case)
    y, challenger, champion = Y, _model(Y, 1.05, 5), _model(Y, 1.0, 6)
    point = _gate(y, challenger, champion, GatePolicy(threshold=0.6, method="point"))
    interval = _gate(y, challenger, champion)
    assert point.challenger_score > point.champion_score
    assert point.deploy and point.method == "point" and point.ci_low is None
    assert not interval.deploy


def test_nan_scores_never_deploy_and_serialise_as_null() -> None:
    y = _labels(100, 50)
    d = decide_paired(
        "roc_auc",
        y,
        [0, 1],
        _model(y, 1.0, 1),
        _model(y, 1.0, 2),
        challenger_score=math.nan,
        champion_score=0.8,
        policy=POLICY,
    )
    assert not d.deploy
    data = d.to_dict()
    assert data["challenger_score"] is None and data["decision"] == "skip"


def test_champion_with_other_classes_falls_back_to_the_point_estimates() -> None:
    d = decide_paired(
        "roc_auc", Y, [0, 1], _model(Y, 2.0, 1), None, challenger_score=0.9, champion_score=0.8, policy=POLICY
    )
    assert d.deploy and any("champion knows other classes" in r for r in d.reasons)


def test_bad_confidence_is_an_error() -> None:
    with pytest.raises(ValueError, match="confidence"):
        _gate(Y, _model(Y, 1.0, 1), None, GatePolicy(threshold=0.6, confidence=1.0))


def test_to_dict_has_the_interval_fields() -> None:
    data: dict = GateDecision.to_dict(_gate(Y, _model(Y, 2.0, 1), _model(Y, 0.8, 2)))
    assert {"ci_low", "ci_high", "challenger_ci_low", "challenger_ci_high", "method", "confidence"} <= set(data)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RETRAIN_GATE_METHOD": "median"}, "RETRAIN_GATE_METHOD"),
        ({"RETRAIN_GATE_CONFIDENCE": "1.5"}, "RETRAIN_GATE_CONFIDENCE"),
        ({"RETRAIN_GATE_RESAMPLES": "10"}, "RETRAIN_GATE_RESAMPLES"),
        ({"RETRAIN_GATE_RESAMPLES": "200", "RETRAIN_GATE_CONFIDENCE": "0.99"}, "use >= 1000"),
        ({"RETRAIN_GATE_MIN_ROWS": "0"}, "RETRAIN_GATE_MIN_ROWS"),
        ({"RETRAIN_GATE_MIN_CLASS_ROWS": "0"}, "RETRAIN_GATE_MIN_CLASS_ROWS"),
    ],
)
def test_gate_settings_are_validated_by_name(env: dict[str, str], named: str) -> None:
    from retrain.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_policy_from_default_settings() -> None:
    from retrain.settings import load_settings

    policy = GatePolicy.from_settings(load_settings({}))
    assert (policy.method, policy.confidence, policy.resamples, policy.min_improvement) == (
        "bootstrap",
        0.95,
        1000,
        0.0,
    )
    assert (policy.min_rows, policy.min_class_rows) == (50, 10)
