"""The approval outcome (`Approval`) and the message asking for it: plain values, no Airflow."""

from __future__ import annotations

import pytest

from retrain.jobs.promote import approval_request
from retrain.jobs.retrain_run import Approval, Evaluated, HoldoutScores, RetrainRun
from retrain.model.gate import GateDecision
from retrain.settings import load_settings


def test_approval_round_trips_and_says_who_when_and_why() -> None:
    approval = Approval("rejected", "bob", "2025-12-08T10:00:00+00:00", "wait", timeout_seconds=60)
    assert Approval.from_dict(approval.to_dict()) == approval
    assert (approval.approved, approval.approved_by) == (False, None)
    assert approval.reason() == "rejected by bob at 2025-12-08T10:00:00+00:00: 'wait'"
    timed_out = Approval("timed_out", None, "2025-12-08T11:00:00+00:00", timeout_seconds=3600)
    assert timed_out.reason() == (
        "approval timed out at 2025-12-08T11:00:00+00:00: nobody answered within 3600 s, so no deploy"
    )
    assert Approval("approved", "alice", "t").approved_by == "alice"


@pytest.mark.parametrize(
    ("outcome", "by", "message"),
    [("maybe", "alice", "outcome must be one of"), ("approved", None, "names the person")],
)
def test_approval_refuses_what_cannot_be(outcome: str, by: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Approval(outcome, by, "2025-12-08T10:00:00+00:00")  # type: ignore[arg-type]


def _evaluated(champion: bool) -> Evaluated:
    decision = GateDecision(
        deploy=True,
        challenger_score=0.9124,
        champion_score=0.8865 if champion else None,
        threshold=0.8,
        min_improvement=0.0,
        metric="roc_auc",
        reasons=["roc_auc 0.9124 ≥ threshold 0.8000"],
        method="bootstrap",
        confidence=0.95,
        ci_low=0.0121 if champion else None,
        ci_high=0.0401 if champion else None,
        challenger_ci_low=0.8990,
        challenger_ci_high=0.9250,
    )
    run = RetrainRun("2025-12-08", "drift", ("2025-12-01", "2025-12-08"), ("2025-12-08",), "3" if champion else None)
    return Evaluated(run, HoldoutScores("roc_auc", {"roc_auc": 0.9124}), decision)


def test_approval_request_message_has_the_intervals_the_link_and_the_deadline(retrain_env: dict) -> None:
    settings = load_settings({**retrain_env, "RETRAIN_APPROVERS": "alice, carol"})
    url = "http://127.0.0.1:8080/dags/retrain/runs/manual__x/tasks/approve_deploy/required_actions?map_index=-1"

    text = approval_request(settings, _evaluated(True), url=url, deadline="2025-12-09T10:00:00+00:00").text()

    assert text == (
        "retrain-model: the challenger of 2025-12-08 (trigger=drift) passed the gate and awaits approval\n"
        "roc_auc=0.9124 (95% CI [0.8990, 0.9250]) threshold=0.8000\n"
        "champion: version 3 roc_auc=0.8865; gain +0.0259, 95% CI [+0.0121, +0.0401]\n"
        f"approve or reject: {url}\n"
        "answer by alice, carol before 2025-12-09T10:00:00+00:00; without an answer the deploy is skipped\n"
        "deploy_status=awaiting_approval"
    )
    first = approval_request(settings, _evaluated(False), url=url, deadline="d").text()
    assert "champion: none yet" in first and "gain" not in first
