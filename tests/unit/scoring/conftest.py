"""Fixtures of the scoring tests: small fitted classifiers (binary and multiclass, int and string labels)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from tests.unit.scoring.helpers import frame


@pytest.fixture(scope="session")
def models() -> dict[str, object]:
    """Binary and multiclass classifiers fitted on named columns (labels: ints and strings)."""
    train = frame(2_000, seed=1)
    x = train.to_numpy()
    binary = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    multi = np.array(["low", "mid", "high"])[np.digitize(x[:, 0] + 0.5 * x[:, 3], [-0.5, 0.5])]
    return {
        "lr-binary": LogisticRegression().fit(train, binary),
        "hgb-binary": HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train, binary),
        "lr-multi": LogisticRegression(max_iter=500).fit(train, multi),
        "hgb-multi": HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(train, multi),
    }
