"""Layout owns the batch-scoring paths (`_parts`, part files, `_meta.json`) and what "landed" means."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.layout import Layout


def test_prediction_paths_live_beside_the_predictions(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    day = tmp_path / "predictions" / "2025-12-08"
    assert layout.predictions_meta("2025-12-08") == day / "_meta.json"
    assert layout.prediction_parts("2025-12-08") == day / "_parts"
    assert layout.prediction_part("2025-12-08", 3) == day / "_parts" / "part-00003.csv"
    with pytest.raises(ValueError, match=">= 0"):
        layout.prediction_part("2025-12-08", -1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        layout.prediction_parts("8.12.2025")


def test_features_landed_and_day_landed(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ds = "2025-12-08"
    assert not layout.features_landed(ds) and not layout.day_landed(ds)
    layout.raw(ds).mkdir(parents=True)
    layout.raw_data(ds).write_text("f00\n1\n")
    assert layout.features_landed(ds) and not layout.day_landed(ds)
    layout.raw_target(ds).write_text("target\n1\n")
    assert layout.day_landed(ds)


def test_feature_days_labelled_days_and_the_quarantine_reason(tmp_path: Path) -> None:
    from retrain.data.load import quarantine_day

    layout = Layout(tmp_path)
    for ds, labelled in (("2025-12-07", True), ("2025-12-08", False)):
        layout.raw(ds).mkdir(parents=True)
        layout.raw_data(ds).write_text("f00\n1\n")
        if labelled:
            layout.raw_target(ds).write_text("target\n1\n")
    assert layout.feature_days() == ["2025-12-07", "2025-12-08"]
    assert layout.labelled_days() == layout.raw_days() == ["2025-12-07"]
    assert layout.feature_days(until="2025-12-07") == ["2025-12-07"]
    assert layout.quarantine_reason("2025-12-09") is None
    quarantine_day(layout, "2025-12-09", "first reason", [])
    quarantine_day(layout, "2025-12-09", "second reason", [])
    reason = layout.quarantine_reason("2025-12-09")
    assert reason.startswith("second reason (see ") and "attempt-2" in reason
