"""The reference window: the champion's training days from its tags, read back from raw/."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.drift.reference import load_window, reference_days

# --- the reference window -----------------------------------------------------------------------


def test_reference_days_from_champion_tags() -> None:
    assert reference_days({"window_start": "2025-12-01", "window_end": "2025-12-14", "x": "y"}) == (
        "2025-12-01",
        "2025-12-14",
    )
    with pytest.raises(ValueError, match="window_start / window_end"):
        reference_days({"window_start": "2025-12-01"})
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        reference_days({"window_start": "2025-12-01", "window_end": "14.12.2025"})
    with pytest.raises(ValueError, match="before it starts"):
        reference_days({"window_start": "2025-12-14", "window_end": "2025-12-01"})


def test_load_window_reads_the_landed_days(tmp_path: Path) -> None:
    from retrain.data.generate import generate_day, write_day
    from retrain.layout import Layout

    layout = Layout(tmp_path)
    for ds in ("2025-12-01", "2025-12-02", "2025-12-03", "2025-12-05"):
        X, y = generate_day(ds, rows=50, n_features=3, seed=1, drift_start=None, drift_strength=0.0)
        write_day(layout, ds, X, y)
    frame = load_window(layout, "2025-12-02", "2025-12-05")
    assert len(frame) == 150  # 12-02, 12-03 and 12-05 (12-04 never landed)
    assert list(frame.columns) == ["f00", "f01", "f02"]
    with pytest.raises(ValueError, match="no landed day"):
        load_window(layout, "2026-01-01", "2026-01-31")
