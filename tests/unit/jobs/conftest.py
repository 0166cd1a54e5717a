"""A home with landed days and a registered champion, built once per module (no Airflow).

The champion is a LogisticRegression fitted on the first seven days, logged, registered and promoted
through the real registry (its version carries the training window as tags, as a retrain writes it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pytest

WINDOW = [f"2025-12-{d:02d}" for d in range(1, 8)]
LATER = [f"2025-12-{d:02d}" for d in range(8, 12)]


@dataclass
class ChampionHome:
    settings: Any
    layout: Any
    registry: Any
    version: str
    columns: list[str]


def build_home(root: Any, *, drift_start: str | None = None, drift_strength: float = 0.0) -> ChampionHome:
    """Land WINDOW + LATER (LATER drifted from `drift_start` on), train and promote a champion on WINDOW."""
    from sklearn.linear_model import LogisticRegression

    from retrain.data.generate import generate_day, write_day
    from retrain.data.validate import read_features, read_target
    from retrain.layout import Layout
    from retrain.registry import Registry
    from retrain.settings import load_settings

    settings = load_settings()
    layout = Layout(settings.data_dir)
    start = date.fromisoformat(drift_start) if drift_start else None
    for ds in [*WINDOW, *LATER]:
        X, y = generate_day(ds, rows=300, n_features=4, seed=1, drift_start=start, drift_strength=drift_strength)
        write_day(layout, ds, X, y)
    X = pd.concat([read_features(layout.raw_data(ds)) for ds in WINDOW], ignore_index=True)
    y = pd.concat([read_target(layout.raw_target(ds), 300) for ds in WINDOW], ignore_index=True)
    model = LogisticRegression(max_iter=200).fit(X, y)
    registry = Registry.from_settings(settings)
    run_id = registry.log_challenger(
        model, X, ds=WINDOW[-1], params={"estimator": "LogisticRegression"}, metrics={}, tags={}, window=WINDOW
    )
    version = registry.register(run_id, ds=WINDOW[-1])
    registry.promote(version, expected_current=None, reason="unit test champion")
    return ChampionHome(settings, layout, registry, version, list(X.columns))


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private RETRAIN_HOME for the module (module fixtures cannot use `monkeypatch`)."""
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith(("RETRAIN_", "TG_", "MLFLOW_")) or key in ("METRIC_THRESHOLD", "MODEL_VERSION"):
            mp.delenv(key, raising=False)
    root = tmp_path_factory.mktemp("job-home")
    mp.setenv("RETRAIN_HOME", str(root / "home"))
    mp.setenv("RETRAIN_BATCH_ROWS", "128")
    try:
        yield root
    finally:
        mp.undo()
