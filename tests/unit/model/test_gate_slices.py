"""Per-slice no-regression (RETRAIN_SLICE_COLUMNS): surely worse on one slice skips, naming the slice."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from retrain.errors import ConfigurationError
from retrain.model.gate import GateDecision, GatePolicy, decide_paired

POLICY = GatePolicy(threshold=0.5, seed=1)


def _proba(score: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-score))
    return np.column_stack([1 - p, p])


def _holdout(challenger_noise_on_b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """3,000 rows: slice "a" (2,400 rows) where the challenger is much sharper than the champion, slice
    "b" (600 rows) where its noise is `challenger_noise_on_b`; a numeric 0/1 column beside it."""
    rng = np.random.default_rng(0)
    n = 3_000
    plan = np.where(np.arange(n) < 2_400, "a", "b").astype(object)
    flag = (rng.random(n) < 0.5).astype(float)
    y = rng.integers(0, 2, n)
    champion = y + rng.normal(0, 1.0, n)
    challenger = np.where(plan == "a", y + rng.normal(0, 0.4, n), y + rng.normal(0, challenger_noise_on_b, n))
    return y, plan, flag, _proba(challenger), _proba(champion)


def _decide(y, challenger, champion, slices) -> GateDecision:  # type: ignore[no-untyped-def]
    return decide_paired(
        "roc_auc",
        y,
        [0, 1],
        challenger,
        champion,
        challenger_score=float(roc_auc_score(y, challenger[:, 1])),
        champion_score=float(roc_auc_score(y, champion[:, 1])),
        policy=POLICY,
        slices=slices,
    )


def test_a_challenger_surely_worse_on_one_slice_skips_naming_it() -> None:
    # given a challenger surely better on the whole holdout, but much worse on the rows of plan "b"
    y, plan, flag, challenger, champion = _holdout(challenger_noise_on_b=4.0)
    assert _decide(y, challenger, champion, None).deploy is True  # without slices it deploys
    # when the gate also looks at the slices of plan and of a numeric 0/1 column
    decision = _decide(y, challenger, champion, {"plan": plan, "flag": flag})
    # then it skips, and the reason names the slice, its rows and the interval wholly below 0
    assert decision.deploy is False
    (worse,) = [r for r in decision.reasons if r.startswith("worse on slice")]
    assert worse.startswith("worse on slice plan=b (600 rows): roc_auc -0.")
    assert worse.endswith("upper bound below 0")
    # and the slice table holds every slice, the numeric column's values written as integers
    table = {(s["column"], s["value"]): s for s in decision.slices}
    assert set(table) == {("plan", "a"), ("plan", "b"), ("flag", "0"), ("flag", "1")}
    assert table[("plan", "b")]["verdict"] == "worse" and table[("plan", "b")]["ci_high"] < 0
    assert table[("plan", "a")]["verdict"] == "ok" and table[("plan", "a")]["ci_low"] > 0
    assert sum(s["rows"] for s in decision.slices if s["column"] == "flag") == len(y)
    # and it survives the round trip the card and MLflow make
    assert GateDecision.from_dict(decision.to_dict()).slices == decision.slices


def test_no_slice_worse_deploys_and_a_small_slice_is_not_judged() -> None:
    # given a challenger as good as the champion on plan "b" (noise 1.0 on both)
    y, plan, _, challenger, champion = _holdout(challenger_noise_on_b=1.0)
    plan = plan.copy()
    plan[:30] = None  # 30 rows with a missing plan: a slice too small to decide
    decision = _decide(y, challenger, champion, {"plan": plan})
    assert decision.deploy is True
    assert decision.reasons[-1] == "no slice of plan is surely worse (2 compared, 1 too small or undefined)"
    missing = next(s for s in decision.slices if s["value"] == "(missing)")
    assert (missing["rows"], missing["verdict"]) == (30, "too small")
    assert "RETRAIN_GATE_MIN_ROWS" in missing["note"]


def test_no_champion_no_slices_and_a_continuous_column_is_refused() -> None:
    y, plan, _, challenger, champion = _holdout(challenger_noise_on_b=4.0)
    first = decide_paired(
        "roc_auc",
        y,
        [0, 1],
        challenger,
        None,
        challenger_score=0.9,
        champion_score=None,
        policy=POLICY,
        slices={"plan": plan},
    )
    assert first.deploy is True and first.slices == []  # nothing to regress against
    with pytest.raises(ConfigurationError, match="RETRAIN_SLICE_COLUMNS: 'amount' has more than 50"):
        _decide(y, challenger, champion, {"amount": np.arange(len(y), dtype=float)})
