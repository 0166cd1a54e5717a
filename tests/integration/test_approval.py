"""Human approval (RETRAIN_APPROVAL=required), for real: the `retrain` DAG runs through Airflow (`dag.test()`)
and a person answers `approve_deploy` through Airflow's own REST API (the route the UI's "Required actions"
page calls), logged in as a user of Airflow's simple auth manager, from another thread while the run waits.

One home for the three answers, so that each retrain still has no champion and the gate says deploy:
a rejection, then a timeout, then an approval.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain.layout import Layout
from retrain.settings import load_settings
from tests.conftest import DAGS_FOLDER
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

TOKEN = "123456:SECRET-approval-token"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "dave": "dave-pw", "carol": "carol-pw"}
AIRFLOW_URL = "https://airflow.example.test"
HITL = "/api/v2/dags/retrain/dagRuns/{run_id}/taskInstances/approve_deploy/-1/hitlDetails"


@pytest.fixture
def airflow_api(airflow_home: Path, tmp_path: Path) -> Iterator[Any]:
    """Airflow's REST API in this process (FastAPI's test client: no port), on the tests' metadata
    database, with four users: alice, bob and dave may edit DAGs (role `user`), carol only views."""
    with pytest.MonkeyPatch.context() as mp:
        passwords = tmp_path / "passwords.json"
        passwords.write_text(json.dumps(PASSWORDS), encoding="utf-8")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:user,bob:user,dave:user,carol:viewer")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "approval-test-" + "x" * 64)
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        with TestClient(create_app(apps="core")) as client:
            yield client


def _headers(client: Any, user: str) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class Answer(threading.Thread):
    """Waits for the approval request of the running `retrain` DAG, then answers it as `user`.

    First, users who may not answer try (each must get 403): `others` (user name → expected detail).
    """

    def __init__(self, client: Any, user: str, option: str, comment: str, others: dict[str, str] | None = None):
        super().__init__(daemon=True)
        self.client, self.user, self.option, self.comment = client, user, option, comment
        self.others = others or {}
        self.request: dict[str, Any] = {}
        self.refusals: dict[str, tuple[int, str]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            headers = _headers(self.client, self.user)
            # The run trains and evaluates before it asks: minutes on a loaded machine. This only bounds a
            # broken run; a request that is never answered times out on its own (RETRAIN_APPROVAL_TIMEOUT).
            deadline = time.monotonic() + 900
            while not self.request:
                assert time.monotonic() < deadline, "no approval request within 900 s"
                found = self.client.get(
                    "/api/v2/dags/retrain/dagRuns/~/hitlDetails", headers=headers, params={"response_received": False}
                )
                assert found.status_code == 200, found.text
                self.request = next(iter(found.json()["hitl_details"]), {})
                time.sleep(0.3)
            path = HITL.format(run_id=self.request["task_instance"]["dag_run_id"])
            body = {"chosen_options": [self.option], "params_input": {"comment": self.comment}}
            for other in self.others:
                refused = self.client.patch(path, headers=_headers(self.client, other), json=body)
                self.refusals[other] = (refused.status_code, refused.text)
            answered = self.client.patch(path, headers=headers, json=body)
            assert answered.status_code == 200, answered.text
        except BaseException as exc:  # re-raised in the test's thread by `result`
            self.error = exc

    def result(self) -> dict[str, Any]:
        self.join(timeout=30)
        if self.error is not None:
            raise self.error
        return self.request


def _approval_runner(monkeypatch: pytest.MonkeyPatch, airflow_home: Path, timeout: int) -> Any:
    """A DagRunner whose `retrain` DAG asks for approval, with this response timeout (parsed now)."""
    monkeypatch.setenv("RETRAIN_APPROVAL_TIMEOUT", str(timeout))
    from retrain.airflow.runner import DagRunner

    return DagRunner(DAGS_FOLDER, airflow_home)


def test_a_rejection_and_a_timeout_skip_and_an_approval_deploys_each_recorded_with_who_and_why(  # type: ignore[no-untyped-def]
    retrain_env, airflow_api, telegram_server, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain.jobs.land import LandDay
    from retrain.records import ledger
    from retrain.records.status import build_status
    from retrain.registry import Registry

    # given: three landed days (landed directly: `generate_data` runs are tested elsewhere), approval
    # required from alice or bob, and a Telegram stand-in
    timeline = days("2025-12-01", 3)
    settings = load_settings()
    for ds in timeline:
        LandDay(settings, Layout(settings.data_dir)).run(ds)
    monkeypatch.setenv("RETRAIN_WAIT_TIMEOUT", "2")
    monkeypatch.setenv("RETRAIN_APPROVAL", "required")
    monkeypatch.setenv("RETRAIN_APPROVERS", "alice,bob")
    monkeypatch.setenv("RETRAIN_AIRFLOW_URL", AIRFLOW_URL)
    monkeypatch.setenv("TG_TOKEN", TOKEN)
    monkeypatch.setenv("TG_CHAT", "42")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    asking = _approval_runner(monkeypatch, airflow_home, timeout=120)  # a failed answer ends in 2 min, not never
    settings = load_settings()
    layout, registry = Layout(settings.data_dir), Registry.from_settings(settings)

    def sent() -> list[str]:
        return [r.json["text"] for r in telegram_server.requests if r.api_method == "sendMessage"]

    # when: the first retrain asks, dave (not an approver) and carol (a viewer) try to answer, bob rejects
    bob = Answer(airflow_api, "bob", "Reject", "wait for the holiday data", others={"dave": "", "carol": ""})
    bob.start()
    rejected = asking.run("retrain", timeline[0], {"trigger": "schedule"})
    request = bob.result()

    # then: the request quoted the gate, only an approver could answer, and the run skipped saying who and why
    assert rejected.ok, rejected.tasks
    assert (rejected.tasks["approve_deploy"], rejected.tasks["deploy_model"], rejected.tasks["skip_deploy"]) == (
        "success",
        "skipped",
        "success",
    )
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert "no champion yet" in request["body"]
    assert {u["id"] for u in request["assigned_users"]} == {"alice", "bob"}
    assert bob.refusals["dave"][0] == 403 and "not a respondent" in bob.refusals["dave"][1]
    assert bob.refusals["carol"][0] == 403
    run_id = request["task_instance"]["dag_run_id"]
    asked = sent()[-1]
    assert f"the challenger of {timeline[0]} (trigger=schedule) passed the gate and awaits approval" in asked
    assert "95% CI [" in asked and "champion: none yet" in asked
    assert f"approve or reject: {AIRFLOW_URL}/dags/retrain/runs/" in asked
    assert "/tasks/approve_deploy/required_actions?map_index=-1" in asked
    assert run_id.replace(":", "%3A").replace("+", "%2B") in asked or run_id in asked
    assert "answer by alice, bob before " in asked and "deploy_status=awaiting_approval" in asked
    entry = ledger.find(settings.ledger_path, ds=timeline[0])
    assert (entry["decision"], entry["approved_by"], entry["version"]) == ("skip", None, None)
    assert entry["approval"]["outcome"] == "rejected" and entry["approval"]["by"] == "bob"
    assert entry["approval"]["comment"] == "wait for the holiday data"
    assert (
        entry["reasons"][-1].startswith("rejected by bob at ") and "'wait for the holiday data'" in entry["reasons"][-1]
    )
    tags = registry.client.get_run(entry["run_id"]).data.tags
    assert (tags["approval.outcome"], tags["approval.by"], tags["approval.comment"]) == (
        "rejected",
        "bob",
        "wait for the holiday data",
    )
    assert json.loads(layout.card_file(timeline[0], "approval").read_text())["by"] == "bob"
    assert registry.champion() is None

    # when: the next retrain asks and nobody answers within its 2-second timeout
    quick = _approval_runner(monkeypatch, airflow_home, timeout=2)
    timed_out = quick.run("retrain", timeline[1], {"trigger": "schedule"})

    # then: Airflow answered its default ("Reject") for nobody, and the skip says so
    assert timed_out.ok, timed_out.tasks
    assert (timed_out.tasks["deploy_model"], timed_out.tasks["skip_deploy"]) == ("skipped", "success")
    entry = ledger.find(settings.ledger_path, ds=timeline[1])
    assert (entry["decision"], entry["approved_by"]) == ("skip", None)
    assert (entry["approval"]["outcome"], entry["approval"]["by"], entry["approval"]["timeout_seconds"]) == (
        "timed_out",
        None,
        2,
    )
    assert "nobody answered within 2 s, so no deploy" in entry["reasons"][-1]
    assert registry.client.get_run(entry["run_id"]).data.tags["approval.outcome"] == "timed_out"
    assert f"the challenger of {timeline[1]}" in sent()[-1]

    # when: the third retrain asks and alice approves
    monkeypatch.setenv("RETRAIN_APPROVAL_TIMEOUT", "120")
    alice = Answer(airflow_api, "alice", "Approve", "numbers look right")
    alice.start()
    approved = asking.run("retrain", timeline[2], {"trigger": "schedule"})
    alice.result()

    # then: deployed as version 1, with alice's approval on the version, the run, the card and the ledger
    assert approved.ok, approved.tasks
    assert (approved.tasks["deploy_model"], approved.tasks["notify_success"], approved.tasks["skip_deploy"]) == (
        "success",
        "success",
        "skipped",
    )
    assert registry.champion().version == "1"
    version_tags = registry.get("1").tags
    assert (version_tags["approved_by"], version_tags["approval.comment"]) == ("alice", "numbers look right")
    entry = ledger.find(settings.ledger_path, ds=timeline[2])
    assert (entry["decision"], entry["approved_by"], entry["version"]) == ("deploy", "alice", "1")
    assert entry["approval"]["comment"] == "numbers look right"
    assert json.loads(layout.card_file(timeline[2], "model").read_text())["version"] == "1"
    assert json.loads(layout.card_file(timeline[2], "approval").read_text())["outcome"] == "approved"
    assert "deploy_status=success" in sent()[-1]
    assert len([text for text in sent() if "deploy_status=awaiting_approval" in text]) == 3

    # and `retrain status` tells the three stories
    history = build_status(load_settings())["history"]
    assert [h["decision"] for h in history] == ["skip", "skip", "deploy"]
    assert [h["approved_by"] for h in history] == [None, None, "alice"]
    assert [(h["approval"]["outcome"], h["approval"]["by"]) for h in history] == [
        ("rejected", "bob"),
        ("timed_out", None),
        ("approved", "alice"),
    ]
    assert all(h["approval"]["at"] for h in history)
