"""The retrain job without Airflow: each step on a real data folder and a real (SQLite) MLflow store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from retrain.data.errors import DataValidationError
from retrain.data.generate import generate_and_write
from retrain.errors import ConflictError
from retrain.jobs.promote import PromotionJob
from retrain.jobs.retrain import Evaluated, RetrainJob, RetrainRun
from retrain.layout import Layout
from retrain.model.evaluate import metrics_from_proba
from retrain.records import ledger
from retrain.settings import Settings, load_settings

DAYS = [f"2025-12-0{d}" for d in range(1, 8)]


@pytest.fixture
def job(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> RetrainJob:
    monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": 20}')
    monkeypatch.setenv("RETRAIN_MODEL_VERSION", "release-7")
    settings = load_settings()
    layout = Layout(settings.data_dir)
    for ds in DAYS:
        generate_and_write(settings, layout, ds)
    return RetrainJob(settings, layout)


def _through_evaluate(job: RetrainJob, ds: str = DAYS[-1]) -> Evaluated:
    run = job.prepare(ds, "schedule")
    for step in (job.validate, job.split, job.train):
        # every step's output crosses a process boundary as JSON in the DAG: do the same here
        run = RetrainRun.from_dict(json.loads(json.dumps(step(run).to_dict())))
    return Evaluated.from_dict(json.loads(json.dumps(job.evaluate(run).to_dict())))


def test_a_first_retrain_deploys_and_records_everything(job: RetrainJob) -> None:
    # given: a week of data and no champion
    # when: the job runs through the gate, then the promotion job deploys
    evaluated = _through_evaluate(job)
    deployed = PromotionJob(job.settings, job.layout, registry=job.registry).deploy(evaluated)

    # then: the gate deployed v1 against no champion, and every record says so
    run = evaluated.run
    assert run.window == tuple(DAYS) and run.champion_version is None and run.holdout_days
    assert evaluated.decision.deploy and "no champion yet" in evaluated.decision.reasons
    assert (deployed.version, deployed.previous_version) == ("1", None)
    assert job.registry.champion().version == "1"
    for part in ("metrics", "params", "window", "decision", "model"):
        assert job.layout.card_file(run.ds, part).is_file()
    assert job.layout.report_file(run.ds).is_file()
    (entry,) = ledger.read(job.settings.ledger_path)
    assert (entry["decision"], entry["version"], entry["trigger"], entry["label"]) == (
        "deploy",
        "1",
        "schedule",
        "release-7",
    )
    assert "git_sha" in entry


def test_every_metric_derives_from_the_probabilities_written_once(job: RetrainJob) -> None:
    # given: an evaluated retrain
    evaluated = _through_evaluate(job)
    # when: the metrics are recomputed from the holdout scores file
    scores = pd.read_csv(job.layout.holdout_scores_file(evaluated.run.ds))
    columns = [c for c in scores.columns if c.startswith("challenger_")]
    classes = [int(c.removeprefix("challenger_")) for c in columns]
    again = metrics_from_proba(scores["target"].to_numpy(), scores[columns].to_numpy(), classes)
    # then: they are the card's, the gate's and the report's numbers
    assert again == pytest.approx(evaluated.scores.challenger)
    assert evaluated.decision.challenger_score == pytest.approx(again[job.settings.metric])
    card = json.loads(job.layout.card_file(evaluated.run.ds, "metrics").read_text())
    assert card["challenger"] == pytest.approx(again)


def test_a_rerun_reuses_the_pinned_holdout_and_the_trained_run(job: RetrainJob) -> None:
    first = _through_evaluate(job)
    # when: the same date runs again (a champion now exists, but the run pinned none)
    PromotionJob(job.settings, job.layout, registry=job.registry).deploy(first)
    again = _through_evaluate(job)
    # then: same holdout, same champion to beat, same MLflow run, same decision
    assert again.run.holdout_days == first.run.holdout_days
    assert again.run.champion_version is None
    assert again.run.run_id == first.run.run_id and again.run.reused_run
    assert again.decision == first.decision
    assert json.loads(job.layout.prepared_file(DAYS[-1]).read_text())["holdout_days"] == list(first.run.holdout_days)


def _files(job: RetrainJob, ds: str) -> dict[str, bytes]:
    """Every file a retrain of `ds` writes: the card, the split and its pin, the holdout scores, the report."""
    folders = (job.layout.models(ds), job.layout.processed(ds), job.layout.report_file(ds).parent)
    return {str(f): f.read_bytes() for folder in folders for f in sorted(folder.iterdir())}


def _decide(job: RetrainJob, ds: str) -> Evaluated:
    """The whole retrain of `ds`: through the gate, then the deploy or the skip it decided."""
    evaluated = _through_evaluate(job, ds)
    if evaluated.decision.deploy:
        PromotionJob(job.settings, job.layout, registry=job.registry).deploy(evaluated)
    else:
        job.skip(evaluated)
    return evaluated


def _land_features_only(job: RetrainJob, days: list[str]) -> None:
    from retrain.data.generate import generate_from_settings, write_features

    for ds in days:
        write_features(job.layout, ds, generate_from_settings(job.settings, ds)[0])


def _land_labels(job: RetrainJob, days: list[str]) -> None:
    from retrain.data.generate import generate_from_settings, write_labels

    for ds in days:
        write_labels(job.layout, ds, generate_from_settings(job.settings, ds)[1])


def test_a_decided_date_rerun_after_labels_landed_keeps_its_pin_decision_and_files(
    job: RetrainJob, caplog: pytest.LogCaptureFixture
) -> None:
    from retrain.records.status import build_status

    # given: 12-09 decided (deployed v1) while the labels of 12-08 and 12-09 had not landed yet
    unlabelled = ["2025-12-08", "2025-12-09"]
    _land_features_only(job, unlabelled)
    first = _decide(job, unlabelled[-1])
    assert first.run.window == tuple(DAYS) and first.decision.deploy
    before, history = _files(job, unlabelled[-1]), ledger.read(job.settings.ledger_path)

    # when: those labels land (the window of 12-09 would now end on 12-09), and 12-09 is run again
    _land_labels(job, unlabelled)
    with caplog.at_level("INFO", logger="retrain.jobs.retrain"):
        again = _decide(job, unlabelled[-1])

    # then: the same pin (window, holdout, champion to beat: none), the same MLflow run and decision
    assert (again.run.window, again.run.holdout_days, again.run.champion_version) == (
        first.run.window,
        first.run.holdout_days,
        None,
    )
    assert again.run.run_id == first.run.run_id and again.run.reused_run
    assert again.decision == first.decision
    assert "reusing its pinned window" in caplog.text and "later date" in caplog.text
    # and every file under models/, processed/ and reports/ of 12-09 is byte-identical: decision.json
    # still says deploy, as model.json does
    assert _files(job, unlabelled[-1]) == before
    assert json.loads(job.layout.card_file(unlabelled[-1], "model").read_text())["version"] == "1"
    # and the ledger and the history have no second row for 12-09
    assert ledger.read(job.settings.ledger_path) == history
    assert [(h["ds"], h["decision"]) for h in build_status(job.settings)["history"]] == [(unlabelled[-1], "deploy")]
    assert [v["version"] for v in job.registry.versions()] == ["1"]

    # when: processed/12-09 (the split and its pin) is removed, and 12-09 is run once more
    shutil.rmtree(job.layout.processed(unlabelled[-1]))
    once_more = _decide(job, unlabelled[-1])
    # then: the card's pin is used: the same run, files and history again
    assert once_more.run.run_id == first.run.run_id and once_more.decision == first.decision
    assert _files(job, unlabelled[-1]) == before and ledger.read(job.settings.ledger_path) == history


def test_a_decided_card_is_never_rewritten_with_other_content(job: RetrainJob) -> None:
    # given: a date decided (deployed)
    first = _decide(job, DAYS[-1])
    before, history = _files(job, DAYS[-1]), ledger.read(job.settings.ledger_path)
    # when: it is rerun under a threshold its challenger cannot reach (the gate would now say skip)
    strict = RetrainJob(job.settings.model_copy(update={"metric_threshold": 0.999}), job.layout, job.registry)
    with pytest.raises(ConflictError, match=f"{DAYS[-1]} was already decided \\(deploy") as caught:
        _decide(strict, DAYS[-1])
    # then: nothing was overwritten or recorded, and the message points to a later date
    assert "later date" in str(caught.value)
    assert _files(job, DAYS[-1]) == before and ledger.read(job.settings.ledger_path) == history
    decision = json.loads(job.layout.card_file(DAYS[-1], "decision").read_text())
    assert decision["decision"] == "deploy" and first.decision.deploy


def test_a_deployed_date_rerun_after_the_champion_moved_on_moves_nothing_back(job: RetrainJob) -> None:
    from retrain.records.status import build_status

    # given: 12-07 deployed v1, then a later challenger (12-08) promoted by hand to v2
    first = _decide(job, DAYS[-1])
    generate_and_write(job.settings, job.layout, "2025-12-08")
    later = _through_evaluate(job, "2025-12-08")
    promotion = PromotionJob(job.settings, job.layout, registry=job.registry, announce=lambda *_: None)
    promotion.promote(job.registry.register(str(later.run.run_id), ds="2025-12-08"), "hand-picked")
    before, history = _files(job, DAYS[-1]), ledger.read(job.settings.ledger_path)
    # when: 12-07 is run again
    again = _decide(job, DAYS[-1])
    # then: the same decision, its deploy found done: v2 stays champion, no "deploy refused" row for 12-07
    assert again.decision == first.decision and again.run.run_id == first.run.run_id
    assert job.registry.champion().version == "2"
    assert _files(job, DAYS[-1]) == before and ledger.read(job.settings.ledger_path) == history
    rows = build_status(job.settings)["history"]
    assert [(h["decision"], h["version"]) for h in rows] == [("deploy", "1"), ("promote", "2")]


def test_a_pinned_but_undecided_date_is_pinned_again_when_labels_landed(job: RetrainJob) -> None:
    # given: 12-09 prepared (pinned) while 12-08 and 12-09 were unlabelled, and its run failed before the gate
    unlabelled = ["2025-12-08", "2025-12-09"]
    _land_features_only(job, unlabelled)
    assert job.prepare(unlabelled[-1], "schedule").window == tuple(DAYS)
    # when: the labels land and the date is run again
    _land_labels(job, unlabelled)
    run = job.prepare(unlabelled[-1], "schedule")
    # then: nothing was decided, so the labelled window is pinned again
    assert run.window == (*DAYS, *unlabelled)
    assert json.loads(job.layout.prepared_file(unlabelled[-1]).read_text())["window"] == list(run.window)


def test_a_bad_day_stops_validation_and_can_be_quarantined(job: RetrainJob) -> None:
    # given: a non-numeric value in a landed day of the window
    bad = job.layout.raw_data(DAYS[2])
    lines = bad.read_text().splitlines()
    lines[3] = "oops" + lines[3][lines[3].index(",") :]
    bad.write_text("\n".join(lines) + "\n")
    run = job.prepare(DAYS[-1], "manual")
    # when / then: the error names the file, and the day is set aside
    with pytest.raises(DataValidationError, match="data.csv") as caught:
        job.validate(run)
    folder = job.quarantine_bad_day(caught.value)
    assert folder == job.layout.quarantine(DAYS[2]) and not job.layout.raw_data(DAYS[2]).exists()


def test_the_run_record_is_frozen_and_small() -> None:
    run = RetrainRun(
        ds="2025-12-07", trigger="drift", window=("2025-12-07",), holdout_days=("2025-12-07",), champion_version="3"
    )
    with pytest.raises(AttributeError):
        run.ds = "2025-12-08"  # type: ignore[misc]
    data = run.to_dict()
    assert json.loads(json.dumps(data)) == data and RetrainRun.from_dict(data) == run
    assert np.isnan(Evaluated.from_dict(_nan_evaluation(run)).decision.challenger_score)


def _nan_evaluation(run: RetrainRun) -> dict:
    from retrain.jobs.retrain import HoldoutScores
    from retrain.model.gate import decide

    nan = float("nan")
    decision = decide(nan, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    data = Evaluated(run, HoldoutScores("roc_auc", {"roc_auc": nan}), decision).to_dict()
    assert json.dumps(data, allow_nan=False)  # NaN is not JSON: it travels as null
    return data


def _a_second_unchanged_week(job: RetrainJob) -> tuple[RetrainJob, list[str]]:
    """A 7-day-window job whose first week's challenger is deployed, and the next week's days landed."""
    job = RetrainJob(job.settings.model_copy(update={"window_days": 7}), job.layout, registry=job.registry)
    first = _through_evaluate(job)
    PromotionJob(job.settings, job.layout, registry=job.registry).deploy(first)
    later = [f"2025-12-{d:02d}" for d in range(8, 15)]
    for ds in later:
        generate_and_write(job.settings, job.layout, ds)
    return job, later


def test_a_retrain_on_an_unchanged_stream_skips_with_its_interval(job: RetrainJob) -> None:
    # given: a champion from the first week, and a second week from the same (undrifted) stream, each
    # trained on a 7-day window (a longer window would make the challenger really better: more data)
    job, later = _a_second_unchanged_week(job)
    # when: the next weekly retrain is judged by the paired bootstrap gate
    evaluated = _through_evaluate(job, later[-1])
    job.skip(evaluated)
    # then: the challenger is not surely better, so it skips; the interval straddles the point gain
    decision = evaluated.decision
    gain = decision.challenger_score - decision.champion_score
    assert decision.method == "bootstrap" and not decision.deploy, decision.reasons
    assert decision.ci_low < gain < decision.ci_high and decision.ci_low < 0
    assert any("no sure gain over champion" in r and "95% CI" in r for r in decision.reasons)
    # and the interval is in the card, the ledger and the status
    card = json.loads(job.layout.card_file(later[-1], "decision").read_text())
    assert (card["ci_low"], card["ci_high"]) == (decision.ci_low, decision.ci_high)
    entry = ledger.read(job.settings.ledger_path)[-1]
    assert (entry["decision"], entry["ci_low"], entry["ci_high"], entry["approved_by"]) == (
        "skip",
        decision.ci_low,
        decision.ci_high,
        None,
    )
    from retrain.records.status import build_status

    row = build_status(job.settings)["history"][-1]
    assert (row["ci_low"], row["ci_high"], row["approved_by"]) == (decision.ci_low, decision.ci_high, None)


def test_the_window_holds_labelled_days_only_and_no_new_labels_skip_before_training(job: RetrainJob) -> None:
    from retrain.data.generate import generate_from_settings, write_features, write_labels
    from retrain.errors import NothingToDo
    from retrain.records.status import build_status

    # given: a labelled week, then three days whose features landed but whose labels have not
    later = ["2025-12-08", "2025-12-09", "2025-12-10"]
    for ds in later:
        write_features(job.layout, ds, generate_from_settings(job.settings, ds)[0])

    # when: the retrain of the newest day runs through the gate and deploys
    evaluated = _through_evaluate(job, later[-1])
    PromotionJob(job.settings, job.layout, registry=job.registry).deploy(evaluated)

    # then: it trained and held out on labelled days only, and the card and the status say which
    assert evaluated.run.window == tuple(DAYS) and set(evaluated.run.holdout_days) <= set(DAYS)
    card = json.loads(job.layout.card_file(later[-1], "window").read_text())
    assert card["days"] == DAYS
    assert build_status(job.settings)["history"][-1]["window"] == [DAYS[0], DAYS[-1]]

    # when: a retrain finds no labelled day newer than the champion's window
    with pytest.raises(NothingToDo, match="no new labelled data since version 1") as caught:
        job.prepare(later[-2], "drift")
    # then: it ends before any training, recorded once as a skip (a rerun does not record it twice)
    with pytest.raises(NothingToDo):
        job.prepare(later[-2], "drift")
    assert not job.layout.prepared_file(later[-2]).exists() and not job.layout.train_file(later[-2]).exists()
    skips = [e for e in ledger.read(job.settings.ledger_path) if e.get("skipped_before_training")]
    assert len(skips) == 1 and skips[0]["reasons"] == [str(caught.value)]
    assert (skips[0]["decision"], skips[0]["trigger"], skips[0]["run_id"]) == ("skip", "drift", None)
    assert build_status(job.settings)["history"][-1]["decision"] == "skip"

    # when: the labels of 12-08 arrive; then the next retrain (a later date: 12-10 is decided, and a
    # rerun of it keeps its window) has new data: 12-08 is its holdout
    write_labels(job.layout, later[0], generate_from_settings(job.settings, later[0])[1])
    assert job.prepare(later[-1], "schedule").window == tuple(DAYS)
    write_features(job.layout, "2025-12-11", generate_from_settings(job.settings, "2025-12-11")[0])
    run = job.prepare("2025-12-11", "schedule")
    assert run.window[-1] == later[0] and run.holdout_days == (later[0],) and run.champion_version == "1"


def test_the_gate_benchmark_replays_the_jobs_decision(job: RetrainJob, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/bench_gate.py judges hundreds of retrains without MLflow: it must decide as the job does."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    from retrain.data.generate import generate_from_settings

    # given: the job's two weekly retrains (7-day window) on an unchanged stream, the first deployed
    job, later = _a_second_unchanged_week(job)
    evaluated = _through_evaluate(job, later[-1])
    # when: the benchmark replays the same days with the same settings
    path = Path(__file__).resolve().parents[3] / "bench" / "bench_gate.py"
    spec = importlib.util.spec_from_file_location("bench_gate", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_gate", bench)  # dataclasses look their module up there
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # the bench sets these
        monkeypatch.setenv(name, os.environ.get(name, "1"))
    spec.loader.exec_module(bench)
    frames = {ds: generate_from_settings(job.settings, ds) for ds in [*DAYS, *later]}
    (replayed,) = bench.run_stream(frames, job.settings.seed, job.settings)
    # then: the same holdout, the same scores, the same interval and the same decision
    decision = evaluated.decision
    assert replayed.window_end == later[-1] and replayed.holdout_rows == decision.holdout_rows
    assert replayed.gain == pytest.approx(decision.challenger_score - decision.champion_score, abs=1e-12)
    assert replayed.ci_low == pytest.approx(decision.ci_low, abs=1e-12)
    assert replayed.deploy["gate"] is decision.deploy


def _home(job: RetrainJob) -> dict[str, tuple[bytes, int]]:
    """Every file under RETRAIN_HOME (data, card, split, ledger, MLflow store), its bytes and when it was written."""
    files = sorted(p for p in job.settings.home.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def _mlflow_runs(job: RetrainJob) -> int:
    client = job.registry.client
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        (
            {"estimator_params": {"max_iter": 50}},
            'RETRAIN_ESTIMATOR_PARAMS: recorded {"max_iter": 20}, now {"max_iter": 50}',
        ),
        (
            {"estimator": "sklearn.linear_model.LogisticRegression", "estimator_params": {}},
            "RETRAIN_ESTIMATOR: recorded sklearn.ensemble.HistGradientBoostingClassifier, now sklearn.linear_model",
        ),
    ],
)
def test_a_decided_date_rerun_under_other_settings_fails_at_prepare_changing_nothing(
    job: RetrainJob, changed: dict, named: str
) -> None:
    # given: a date decided (deployed), every file under RETRAIN_HOME and the MLflow runs
    first = _decide(job, DAYS[-1])
    before, runs = _home(job), _mlflow_runs(job)
    # when: it is rerun under settings its card records otherwise (another estimator or its parameters)
    other = RetrainJob(job.settings.model_copy(update=changed), job.layout, job.registry)
    with pytest.raises(ConflictError) as caught:
        other.prepare(DAYS[-1], "schedule")
    # then: its first step fails with a conflict naming the date, what differs (recorded and now) and how to go on
    message = str(caught.value)
    assert message.startswith(f"{DAYS[-1]} was already decided (deploy, models/{DAYS[-1]}/decision.json)")
    assert named in message and "restore the recorded settings" in message and "later date" in message
    # and nothing changed: no file under RETRAIN_HOME written (not even with the same bytes), no MLflow run logged
    assert _home(job) == before and _mlflow_runs(job) == runs

    # when: processed/{ds}/ is gone (an unchanged rerun would pin again from the card), and it is rerun so again
    shutil.rmtree(job.layout.processed(DAYS[-1]))
    before = _home(job)
    with pytest.raises(ConflictError):
        other.prepare(DAYS[-1], "schedule")
    # then: the pin is not written back either
    assert _home(job) == before and not job.layout.processed(DAYS[-1]).exists()

    # when: the settings are restored
    again = _decide(job, DAYS[-1])
    # then: the rerun converges as before: the same MLflow run and decision, no second run or history row
    assert again.run.run_id == first.run.run_id and again.run.reused_run and again.decision == first.decision
    assert _mlflow_runs(job) == runs and len(ledger.read(job.settings.ledger_path)) == 1


def test_a_step_run_on_its_own_under_other_settings_refuses_before_writing(job: RetrainJob) -> None:
    # given: a decided date, and its run as prepare and validate hand it on (a task cleared on its own in
    # Airflow reruns without prepare_data)
    _decide(job, DAYS[-1])
    run = job.validate(job.prepare(DAYS[-1], "schedule"))
    trained = job.train(job.split(run))
    before, runs = _home(job), _mlflow_runs(job)
    # when: split and train run under other settings (a seed, then estimator parameters)
    with pytest.raises(ConflictError, match="RETRAIN_SEED: recorded 42, now 7"):
        RetrainJob(job.settings.model_copy(update={"seed": 7}), job.layout, job.registry).split(run)
    other = RetrainJob(job.settings.model_copy(update={"estimator_params": {"max_iter": 50}}), job.layout, job.registry)
    with pytest.raises(ConflictError, match="RETRAIN_ESTIMATOR_PARAMS"):
        other.train(trained)
    # and split runs under another holdout fraction, which the card shows only in its row counts
    with pytest.raises(ConflictError, match="holdout rows, now"):
        RetrainJob(job.settings.model_copy(update={"holdout_fraction": 0.3}), job.layout, job.registry).split(run)
    # then: processed/{ds}/ was not rewritten and no MLflow run was logged
    assert _home(job) == before and _mlflow_runs(job) == runs
