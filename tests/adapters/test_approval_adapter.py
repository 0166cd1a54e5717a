"""The approval adapter: Airflow's human-in-the-loop resume event → the core's `Approval`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrain.airflow.approval import APPROVE, REJECT, approval_from_event, approval_of

AT = datetime(2025, 12, 8, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {
                "chosen_options": [APPROVE],
                "params_input": {"comment": " ok "},
                "responded_at": AT,
                "responded_by_user": {"id": "u1", "name": "alice"},
                "timedout": False,
            },
            ("approved", "alice", "ok"),
        ),
        (
            {
                "chosen_options": [REJECT],
                "params_input": {"comment": ""},
                "responded_at": AT.isoformat(),
                "responded_by_user": {"id": "bob", "name": ""},
                "timedout": False,
            },
            ("rejected", "bob", None),
        ),
        (  # the scheduler's timeout sweep answers the default ("Reject") for nobody
            {
                "chosen_options": [REJECT],
                "params_input": {"comment": ""},
                "responded_at": AT,
                "responded_by_user": None,
                "timedout": True,
            },
            ("timed_out", None, None),
        ),
    ],
    ids=["approved", "rejected", "timed_out"],
)
def test_the_event_becomes_an_approval(event: dict, expected: tuple) -> None:
    approval = approval_from_event(event, timeout_seconds=60)
    assert (approval.outcome, approval.by, approval.comment) == expected
    assert approval.at == "2025-12-08T10:00:00+00:00"
    assert approval.timeout_seconds == 60
    assert approval_of(approval.to_dict()) == approval


def test_no_xcom_means_nobody_was_asked() -> None:
    assert approval_of(None) is None
