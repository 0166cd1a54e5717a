"""Message content: deploy, failure, drift and manual-change messages, and fitting them into a channel's limit."""

from __future__ import annotations

import pytest

from retrain.notify import DeployMessage, DriftMessage, FailureAlert, ManualChangeMessage, Part, render

TOKEN = "987654321:AAF-secretTOKENvalue_0123456789abcd"


def test_deploy_message_text_exact() -> None:
    message = DeployMessage(
        model_name="churn",
        version="7",
        label="v2.1",
        metric="roc_auc",
        score=0.912345,
        threshold=0.8,
        previous_score=0.88,
        previous_version="6",
        ds="2025-12-08",
    )
    assert message.text() == (
        "churn version 7 (label v2.1) deployed for 2025-12-08\n"
        "roc_auc=0.9123 threshold=0.8000\n"
        "previous champion: version 6 roc_auc=0.8800\n"
        "deploy_status=success"
    )


def test_deploy_message_first_champion_without_label() -> None:
    text = DeployMessage("churn", "1", None, "f1", 0.85, 0.8, None, None, "2025-12-01").text()
    assert "churn version 1 deployed" in text
    assert "label" not in text
    assert "f1=0.8500" in text
    assert "previous champion: none" in text
    assert text.endswith("deploy_status=success")


def test_failure_alert_uses_redacted_first_line() -> None:
    alert = FailureAlert(
        dag_id="retrain",
        task_id="train_model",
        logical_date="2025-12-08T00:00:00+00:00",
        try_number=2,
        error=ValueError(f"cannot reach https://x/bot{TOKEN}/getMe\nTraceback line 2"),
        log_url="http://127.0.0.1:8080/log",
    )
    text = alert.text(secrets=[TOKEN])
    assert text == (
        "FAILED: dag=retrain task=train_model\n"
        "logical_date=2025-12-08T00:00:00+00:00 try=2\n"
        "error: ValueError: cannot reach https://x/bot***/getMe\n"
        "log: http://127.0.0.1:8080/log"
    )


def test_manual_change_message() -> None:
    text = ManualChangeMessage("rollback", "churn", "5", "6", reason="bad predictions").text()
    assert text == (
        "churn: manual rollback to version 5 (previous champion: version 6)\n"
        "deploy_status=rollback\n"
        "reason: bad predictions"
    )
    with pytest.raises(ValueError, match="promote"):
        ManualChangeMessage("delete", "churn", "5", None)  # type: ignore[arg-type]


# --- fitting a channel's limit ----------------------------------------------------------------------


def test_a_long_label_is_shortened_and_the_key_lines_stay() -> None:
    message = DeployMessage("churn", "7", "L" * 4500, "roc_auc", 0.91, 0.8, 0.88, "6", "2025-12-08")

    text = message.text(limit=4096)

    assert len(text) == 4096
    first, *rest = text.split("\n")
    assert first.startswith("churn version 7 (label LLL") and first.endswith("L…) deployed for 2025-12-08")
    assert rest == [
        "roc_auc=0.9100 threshold=0.8000",
        "previous champion: version 6 roc_auc=0.8800",
        "deploy_status=success",
    ]
    assert message.text(limit=10_000) == message.text()


def test_the_longest_free_parts_lose_most() -> None:
    lines = [[Part("a=", False), Part("x" * 100, True)], [Part("b=", False), Part("y" * 10, True)], [Part("END")]]

    text = render(lines, 60)

    a, b, end = text.split("\n")
    assert len(text) <= 60
    assert b == "b=" + "y" * 10  # short free text untouched
    assert a.startswith("a=xxx") and a.endswith("…")
    assert end == "END"


def test_plain_text_and_oversized_fixed_parts_are_cut_at_the_end() -> None:
    lines = [[Part("F" * 50)], [Part("free text", True)]]

    assert render(lines, 20) == "F" * 19 + "…"  # even without the free text it cannot fit
    assert len(render([[Part("z" * 5000, True)]], 4096)) == 4096


def test_drift_and_failure_messages_keep_their_point_when_long() -> None:
    top = [{"feature": "f" * 3000, "psi": 0.5, "ks": 0.3}, {"feature": "g" * 3000, "psi": 0.4, "ks": 0.2}]
    drift = DriftMessage("churn", "2025-12-20", 0.4, "3", ["2025-12-01", "2025-12-14"], top)
    alert = FailureAlert("retrain", "train_model", "2025-12-08", 1, "e" * 250, log_url="http://x/" + "p" * 5000)

    drift_text, alert_text = drift.text(limit=4096), alert.text(limit=4096)

    assert drift.text().startswith("DRIFT: churn on 2025-12-20: 40% of features drifted vs the champion v3 ")
    assert len(drift_text) <= 4096 and drift_text.endswith("\naction: retrain triggered (trigger=drift)")
    assert len(alert_text) <= 4096
    assert "error: " + "e" * 250 in alert_text  # the short error line is kept whole; the long log link shrinks
    assert alert_text.startswith("FAILED: dag=retrain task=train_model\nlogical_date=2025-12-08 try=1\n")
