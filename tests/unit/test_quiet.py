"""Known-harmless warnings are ignored by category and warning module, and nothing else is; a user who asks
for warnings (`-W`, `PYTHONWARNINGS`, `retrain run --verbose`) gets them all."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable

import pytest

from retrain.quiet import ASKED_ENV, show_all_warnings, silence_known_warnings, silence_unless_asked

SKOPS = "skops.io._utils"


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


def _shown_after(silence: Callable[[], None]) -> int:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence()
        warnings.warn_explicit("The `airflow.x.y` attribute is deprecated.", FutureWarning, "f.py", 1, module=SKOPS)
    return len(seen)


def test_the_dags_silence_unless_the_user_asked_for_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: no -W and no PYTHONWARNINGS (plain `airflow dags test`, a worker)
    monkeypatch.setattr(sys, "warnoptions", [])
    monkeypatch.delenv(ASKED_ENV, raising=False)
    assert _shown_after(silence_unless_asked) == 0
    # when: the user asks (`PYTHONWARNINGS=default airflow ...`, or `python -W default`)
    monkeypatch.setenv(ASKED_ENV, "default")
    assert _shown_after(silence_unless_asked) == 1
    monkeypatch.delenv(ASKED_ENV)
    monkeypatch.setattr(sys, "warnoptions", ["default"])
    assert _shown_after(silence_unless_asked) == 1


def test_verbose_asks_for_every_warning_here_and_in_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a quiet environment, then `retrain run --verbose`
    monkeypatch.setattr(sys, "warnoptions", [])
    monkeypatch.delenv(ASKED_ENV, raising=False)
    show_all_warnings()
    # then: the DAGs' filters stand aside, and a child process inherits the ask
    assert _shown_after(silence_unless_asked) == 1
    assert os.environ[ASKED_ENV] == "default"


def test_a_users_own_pythonwarnings_is_kept_by_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ASKED_ENV, "error::DeprecationWarning")
    show_all_warnings()
    assert os.environ[ASKED_ENV] == "error::DeprecationWarning"
