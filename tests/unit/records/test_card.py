"""The model card: what a decided date records of its settings, and the reruns it refuses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from retrain.errors import ConflictError, classify
from retrain.jobs.retrain_run import HoldoutScores, RetrainRun
from retrain.layout import Layout
from retrain.model.gate import GatePolicy, decide
from retrain.records import card
from retrain.settings import Settings

DS = "2025-12-07"


def _run() -> RetrainRun:
    return RetrainRun(
        ds=DS,
        trigger="schedule",
        window=("2025-12-06", DS),
        holdout_days=(DS,),
        champion_version=None,
        train_rows=300,
        holdout_rows=100,
        run_id="abc123",
    )


def _decide(layout: Layout, settings: Settings, *, method: str | None = None) -> None:
    """Write the card of DS as a bootstrap gate under `settings` records it (`method="point"`: as a point gate)."""
    policy = GatePolicy.from_settings(settings)
    decision = decide(
        0.9, None, threshold=policy.threshold, min_improvement=policy.min_improvement, metric=settings.metric
    )
    if (method or policy.method) == "bootstrap":
        decision = dataclasses.replace(decision, method="bootstrap", confidence=policy.confidence)
    scores = HoldoutScores(settings.metric, {settings.metric: 0.9})
    card.write_card(layout, _run(), scores, decision, settings)


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def decided(settings: Settings) -> tuple[Settings, Layout]:
    """DS decided under `settings`, with estimator parameters, as a bootstrap gate records it."""
    settings = settings.model_copy(update={"estimator_params": {"max_iter": 20}})
    layout = Layout(settings.data_dir)
    _decide(layout, settings)
    return settings, layout


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "estimator_params",
            {"max_iter": 50},
            'RETRAIN_ESTIMATOR_PARAMS: recorded {"max_iter": 20}, now {"max_iter": 50}',
        ),
        (
            "estimator",
            "sklearn.linear_model.LogisticRegression",
            "RETRAIN_ESTIMATOR: recorded sklearn.ensemble.HistGradientBoostingClassifier, "
            "now sklearn.linear_model.LogisticRegression",
        ),
        ("seed", 7, "RETRAIN_SEED: recorded 42, now 7"),
        ("metric", "accuracy", "RETRAIN_METRIC: recorded roc_auc, now accuracy"),
        ("metric_threshold", 0.999, "RETRAIN_METRIC_THRESHOLD: recorded 0.8, now 0.999"),
        ("min_improvement", 0.01, "RETRAIN_MIN_IMPROVEMENT: recorded 0.0, now 0.01"),
        ("gate_method", "point", "RETRAIN_GATE_METHOD: recorded bootstrap, now point"),
        ("gate_confidence", 0.9, "RETRAIN_GATE_CONFIDENCE: recorded 0.95, now 0.9"),
    ],
)
def test_each_setting_the_card_records_otherwise_is_named_with_both_values(
    decided: tuple[Settings, Layout], field: str, value: object, expected: str
) -> None:
    # given: a date decided under some settings
    settings, layout = decided
    # when: one setting the card records has another value now
    changes = card.changed_settings(layout, DS, settings.model_copy(update={field: value}))
    # then: that setting, and only it, is named with its recorded and its current value
    assert changes == [expected]


def test_the_settings_a_card_was_written_with_are_no_change(decided: tuple[Settings, Layout]) -> None:
    # given: a date decided under some settings
    settings, layout = decided
    # when / then: the same settings (and one the card does not record) are no change, and no refusal
    assert card.changed_settings(layout, DS, settings) == []
    card.refuse_changed_rerun(layout, DS, settings.model_copy(update={"gate_resamples": 2000}), rows=(300, 100))


def test_a_value_the_card_holds_as_null_is_not_compared(settings: Settings) -> None:
    # given: a date decided by a point gate (decision.json holds no confidence) on a card without params.json
    layout = Layout(settings.data_dir)
    _decide(layout, settings.model_copy(update={"gate_method": "point"}))
    layout.card_file(DS, "params").unlink()
    # when: the confidence and the estimator's parameters change
    now = settings.model_copy(update={"gate_method": "point", "gate_confidence": 0.9, "estimator_params": {"C": 2}})
    # then: no run would have written either, so neither is a change
    assert card.changed_settings(layout, DS, now) == []


def test_a_rerun_under_other_settings_is_refused_saying_what_where_and_how_changing_nothing(
    decided: tuple[Settings, Layout],
) -> None:
    # given: a decided date, and every file of its home
    settings, layout = decided
    before = _files(settings.home)
    # when: it is rerun with other estimator parameters and another threshold
    now = settings.model_copy(update={"estimator_params": {"max_iter": 50}, "metric_threshold": 0.9})
    with pytest.raises(ConflictError) as caught:
        card.refuse_changed_rerun(layout, DS, now)
    # then: the error names the date and its decision, each difference (recorded and now) and the ways on
    message = str(caught.value)
    assert message.startswith(f"{DS} was already decided (deploy, models/{DS}/decision.json) under other settings")
    assert 'RETRAIN_ESTIMATOR_PARAMS: recorded {"max_iter": 20}, now {"max_iter": 50}' in message
    assert "RETRAIN_METRIC_THRESHOLD: recorded 0.8, now 0.9" in message
    assert "restore the recorded settings" in message and "retrain run retrain --date YYYY-MM-DD" in message
    # and it is a conflict (a task fails at once, no retry), and no file was written or touched
    assert classify(caught.value) == "conflict"
    assert _files(settings.home) == before


def test_a_split_of_other_sizes_is_refused(decided: tuple[Settings, Layout]) -> None:
    # given: a date decided on a split of 300 training and 100 holdout rows
    settings, layout = decided
    # when / then: a rerun whose split has other sizes (another holdout fraction) is refused, naming both
    with pytest.raises(ConflictError, match="recorded 300 training and 100 holdout rows, now 200 and 200"):
        card.refuse_changed_rerun(layout, DS, settings, rows=(200, 200))


def test_an_undecided_date_is_never_refused(settings: Settings) -> None:
    # given: a card whose decision.json is missing (the first run failed before the gate finished the card)
    layout = Layout(settings.data_dir)
    _decide(layout, settings)
    layout.card_file(DS, "decision").unlink()
    # when / then: nothing was decided, so nothing can be contradicted
    card.refuse_changed_rerun(layout, DS, settings.model_copy(update={"seed": 7}), rows=(1, 1))


def test_a_decided_card_refuses_other_content_the_settings_do_not_show(decided: tuple[Settings, Layout]) -> None:
    # given: a decided date
    settings, layout = decided
    before = _files(layout.models(DS))
    # when: the same settings would write other scores (the code changed since)
    decision = decide(0.85, None, threshold=0.8, min_improvement=0.0, metric=settings.metric)
    decision = dataclasses.replace(decision, method="bootstrap", confidence=0.95)
    with pytest.raises(ConflictError, match="would rewrite metrics.json, decision.json"):
        card.write_card(layout, _run(), HoldoutScores(settings.metric, {settings.metric: 0.85}), decision, settings)
    # then: the card was left as it was
    assert _files(layout.models(DS)) == before
    assert json.loads(layout.card_file(DS, "decision").read_text())["challenger_score"] == 0.9
