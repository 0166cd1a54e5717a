"""The reference window: the champion's training days, read back from `raw/` for drift comparisons.

The registry records each version's training window as the tags `window_start` / `window_end`
(`retrain.registry.Registry.register`); monitoring and the retrain report compare a day with the
features of exactly those days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from retrain.layout import check_ds

if TYPE_CHECKING:
    from retrain.layout import Layout

__all__ = ["load_window", "reference_days"]


def reference_days(champion_tags: Mapping[str, Any]) -> tuple[str, str]:
    """The champion's training window `(start, end)`, from its `window_start` / `window_end` tags.

    Raises:
        ValueError: When a tag is missing or not a YYYY-MM-DD date, or the window ends before it starts.
    """
    start = champion_tags.get("window_start")
    end = champion_tags.get("window_end")
    if not start or not end:
        raise ValueError(
            "the champion has no training window: tags window_start / window_end are missing "
            f"(got window_start={start!r}, window_end={end!r}); retrain it so the registry records them"
        )
    start, end = check_ds(str(start)), check_ds(str(end))
    if end < start:
        raise ValueError(f"the champion's training window ends ({end}) before it starts ({start})")
    return start, end


def load_window(layout: Layout, start: str, end: str, expected_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The features of every landed day in `[start, end]` (raw/), concatenated: the drift reference.

    Args:
        layout: Where the days live.
        start, end: The window, both included (YYYY-MM-DD).
        expected_columns: The columns to read, in this order (pass the champion's features: other
            columns of a day, e.g. an id column a later export added, are then never parsed). None
            reads every column of each day's header.

    Returns:
        One frame of typed columns (`retrain.data.kinds`: numbers, text, booleans, missing values as
        NaN), the days' rows in date order; the drift statistics read its numeric columns.

    Raises:
        ValueError: When no day of the window has landed.
        retrain.data.errors.DataValidationError: When a day's file is bad (it names the file).
    """
    from retrain.data.validate import read_features

    check_ds(start)
    check_ds(end)
    days = [d for d in layout.raw_days(until=end) if d >= start]
    if not days:
        raise ValueError(f"no landed day between {start} and {end} under {layout.root / 'raw'}")
    columns = None if expected_columns is None else list(expected_columns)
    frames = [read_features(layout.raw_data(d), columns) for d in days]
    return pd.concat(frames, ignore_index=True)
