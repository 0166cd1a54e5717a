"""Known-harmless warnings are ignored by category and warning module, and nothing else is."""

from __future__ import annotations

import warnings

from retrain.quiet import silence_known_warnings


def _caught(category: type[Warning], module: str) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn_explicit("The `airflow.x.y` attribute is deprecated.", category, "f.py", 1, module=module)
    return seen


def test_skops_walking_airflow_modules_is_silenced() -> None:
    assert _caught(FutureWarning, "skops.io._utils") == []


def test_the_same_warning_from_elsewhere_or_of_another_category_still_shows() -> None:
    assert len(_caught(FutureWarning, "retrain.model.train")) == 1
    assert len(_caught(RuntimeWarning, "skops.io._utils")) == 1
