"""The promotion job without Airflow: manual promote and rollback, and what they refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retrain.errors import BadInputError
from retrain.jobs.promote import PromotionJob
from retrain.layout import Layout
from retrain.records import ledger
from retrain.registry import Registry
from retrain.settings import Settings


@pytest.fixture
def job(settings: Settings) -> PromotionJob:
    """A registry with two versions and no champion; announcements are collected, not sent."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    registry = Registry.from_settings(settings)
    for ds in ("2025-12-07", "2025-12-14"):
        run_id = registry.log_challenger(
            LogisticRegression().fit(X, y), X, ds=ds, params={}, metrics={}, tags={}, window=[ds]
        )
        registry.register(run_id, ds=ds)
    sent: list[str] = []
    job = PromotionJob(
        settings, Layout(settings.data_dir), registry=registry, announce=lambda _, message: sent.append(message.text())
    )
    job.sent = sent  # type: ignore[attr-defined]
    return job


def test_promote_then_rollback_record_and_announce_each_move(job: PromotionJob) -> None:
    first = job.promote("1", "first")
    second = job.promote("2", "hotfix")
    back = job.rollback(None, "v2 misbehaves")
    assert (first.previous_version, second.previous_version) == (None, "1")
    assert (back.kind, back.version, back.previous_version) == ("rollback", "1", "2")
    entries = ledger.read(job.settings.ledger_path)
    assert [(e["decision"], e["version"], e["trigger"]) for e in entries] == [
        ("promote", "1", "manual"),
        ("promote", "2", "manual"),
        ("rollback", "1", "manual"),
    ]
    assert all("git_sha" in e for e in entries)
    assert len(job.sent) == 3 and "version 1" in job.sent[-1]  # type: ignore[attr-defined]


def test_promoting_the_champion_changes_records_and_announces_nothing(job: PromotionJob) -> None:
    job.promote("1", "first")
    before = ledger.read(job.settings.ledger_path)
    again = job.promote("1", "again")
    assert not again.changed and again.version == "1"
    assert ledger.read(job.settings.ledger_path) == before
    assert len(job.sent) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda j: j.promote("99", "x"), "no version '99'.*registered versions: 1, 2"),
        (lambda j: j.rollback(None, "x"), "no champion.*retrain promote VERSION"),
        (lambda j: (j.promote("1", "x"), j.rollback(None, "x")), "no previous champion.*--to VERSION"),
        (lambda j: (j.promote("1", "x"), j.rollback("7", "x")), "no version '7'"),
    ],
    ids=["promote-unknown", "rollback-no-champion", "rollback-nothing-before", "rollback-to-unknown"],
)
def test_impossible_moves_say_what_to_do_and_change_nothing(job: PromotionJob, action, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInputError, match=message):
        action(job)
    assert [e["decision"] for e in ledger.read(job.settings.ledger_path)] in ([], ["promote"])
