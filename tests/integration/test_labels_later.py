"""Features now, labels later, through real Airflow runs: asset events, labelled windows, realised performance.

One timeline (labels land 3 days after their features) checked end to end, in one test to keep the
suite's budget: the landing's partitioned asset events and the runs Airflow creates from them, a
retrain on labelled days only, the skip when no new labels arrived, scoring of features-only days,
the realised metric once their labels land, the performance trigger, and the wait on a quarantined day.
"""

from __future__ import annotations

import logging

import pytest

from retrain.notify import read_outbox
from retrain.records import ledger
from retrain.records.status import build_status
from retrain.settings import load_settings
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

CONSUMERS = ("batch_predict", "monitor_drift", "monitor_performance")


def _unpause(dag_ids: tuple[str, ...]) -> None:
    """Airflow queues asset-triggered runs only for unpaused DAGs (dag.test() registers them paused)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for model in session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids))):
            model.is_paused = False


def _events_and_queued_partitions(partitions: set[str]) -> tuple[set, set]:
    """(asset name, partition key, extra) of the asset events, and (dag, partition) Airflow queued."""
    from airflow.models.asset import AssetEvent, AssetPartitionDagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = {
            (e.asset.name, e.partition_key, tuple(sorted(e.extra.items())))
            for e in session.scalars(select(AssetEvent).where(AssetEvent.partition_key.in_(partitions)))
        }
        queued = {
            (a.target_dag_id, a.partition_key)
            for a in session.scalars(
                select(AssetPartitionDagRun).where(AssetPartitionDagRun.partition_key.in_(partitions))
            )
        }
    return events, queued


def _scheduler_creates_the_runs() -> set[tuple[str, str, str]]:
    """What the scheduler's loop does with the queued partitions: one asset-triggered run per DAG and day."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    job = Job()
    scheduler = SchedulerJobRunner(job=job)
    with create_session() as session:
        session.add(job)
        session.flush()
        scheduler._create_dagruns_for_partitioned_asset_dags(session)
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.partition_key.is_not(None)))
        return {(r.dag_id, r.partition_key, str(r.run_type)) for r in runs}


def test_features_now_labels_later_through_airflow(runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: a stream whose labels land 3 days after their features, and the consumer DAGs unpaused
    monkeypatch.setenv("RETRAIN_LABEL_DELAY_DAYS", "3")
    monkeypatch.setenv("RETRAIN_PERFORMANCE_CONSECUTIVE_DAYS", "2")
    timeline = days("2025-12-01", 10)  # 12-01 .. 12-10: labelled up to 12-07 once 12-10 landed
    assert runner.run("generate_data", timeline[0]).ok  # registers the DAGs
    _unpause(CONSUMERS)

    # when: ten days land
    for ds in timeline[1:]:
        assert runner.run("generate_data", ds).ok
    settings = load_settings()

    # then: the last landing emitted the features event of its day and the labels event of 3 days before
    last, labelled = timeline[-1], timeline[-4]
    events, queued = _events_and_queued_partitions({last, labelled})
    assert ("retrain_features", last, (("ds", last),)) in events
    assert ("retrain_labels", labelled, (("landed_on", last),)) in events
    # and Airflow queued each consumer for that day, and its scheduler creates the runs with the day
    assert {("batch_predict", last), ("monitor_drift", last), ("monitor_performance", labelled)} <= queued
    created = _scheduler_creates_the_runs()
    assert {("batch_predict", last), ("monitor_drift", last), ("monitor_performance", labelled)} <= {
        (dag_id, key) for dag_id, key, run_type in created if "asset" in run_type
    }

    # when: the retrain of the last day runs; then it trains on the labelled days only, and deploys
    first = runner.run("retrain", last)
    assert first.ok and first.tasks["deploy_model"] == "success", first.tasks
    deploy = ledger.find(settings.ledger_path, ds=last, decision="deploy")
    assert deploy["window"] == [timeline[0], labelled]
    assert build_status(settings)["history"][-1]["window"] == [timeline[0], labelled]

    # when: a retrain finds no labelled day newer than the champion's window; then it ends before training
    skipped = runner.run("retrain", timeline[-3])
    assert skipped.ok and skipped.tasks["prepare_data"] == "skipped" and skipped.tasks["train_model"] == "skipped"
    skip = ledger.read(settings.ledger_path)[-1]
    assert skip["decision"] == "skip" and skip["reasons"][0].startswith("no new labelled data since version 1")

    # when: the two features-only days after the window are scored
    for ds in timeline[7:9]:
        assert not settings.data_dir.joinpath("raw", ds, "target.csv").exists()
        scored = runner.run("batch_predict", ds)
        assert scored.ok, scored.tasks
    # and their labels land three days later, and drift away from what the champion predicted
    # (a threshold above any realised score stands in for labels that stopped agreeing)
    monkeypatch.setenv("RETRAIN_METRIC_THRESHOLD", "0.999")
    for ds in days("2025-12-11", 2):
        assert runner.run("generate_data", ds).ok
    calm = runner.run("monitor_performance", timeline[7])
    dropped = runner.run("monitor_performance", timeline[8])

    # then: the realised metric of each scored day is recorded and in the status
    performance = build_status(load_settings())["performance"]
    assert [(p["ds"], p["version"], p["rows"], p["metric"]) for p in performance] == [
        (timeline[7], "1", 400, "roc_auc"),
        (timeline[8], "1", 400, "roc_auc"),
    ]
    assert all(0.5 < p["value"] < 1.0 for p in performance)
    # and the second day below the threshold in a row alerts and triggers a retrain with trigger=performance
    assert calm.tasks["no_retrain"] == "success", calm.tasks
    assert dropped.tasks["alert_performance"] == "success" and dropped.tasks["trigger_retrain"] == "success"
    assert runner.queued_runs("retrain") == [(timeline[8], {"trigger": "performance"})]

    # when: a day in quarantine/ is scored; then the wait fails at once, naming the file and the reason
    from retrain.data.load import quarantine_day
    from retrain.layout import Layout

    quarantine_day(Layout(settings.data_dir), "2025-12-20", "the header has 3 columns", [])
    seen = _Lines()
    sensor_log = logging.getLogger("retrain.airflow.sensors")
    sensor_log.addHandler(seen)
    try:
        waited = runner.run("batch_predict", "2025-12-20")
    finally:
        sensor_log.removeHandler(seen)
    assert waited.tasks["wait_for_data"] == "failed" and waited.tasks["resolve_model"] == "upstream_failed"
    # the error names the file; nothing was waited for, so no "waiting for" line either
    error = str(waited.errors["wait_for_data"])
    assert f"{settings.data_dir / 'raw' / '2025-12-20' / 'data.csv'} will not land" in error
    assert not [line for line in seen.lines if "waiting for" in line]
    alert = read_outbox(settings.outbox_path)[-1]["text"]  # the failure alert quotes the reason
    assert "wait_for_data" in alert and "is in quarantine" in alert and "the header has 3 columns" in alert


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
