"""The one mapping of domain errors to Airflow's: fail at once, or leave the error to Airflow's retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from retrain.airflow.context import fail_fast_on_bad_input
from retrain.airflow.errors import domain_errors
from retrain.data.errors import DataValidationError
from retrain.errors import ConflictError, TransientError
from retrain.model.train import EstimatorError


@pytest.mark.parametrize(
    "error",
    [
        DataValidationError("raw/2025-12-01/data.csv: bad"),
        EstimatorError("RETRAIN_ESTIMATOR: not a classifier"),
        ConflictError("deploy of version 2 refused"),
    ],
)
def test_errors_a_retry_cannot_fix_fail_the_task_at_once(error: Exception) -> None:
    with pytest.raises(AirflowFailException, match=str(error)), domain_errors():
        raise error


@pytest.mark.parametrize("error", [TransientError("MLflow 503"), ConnectionError("reset"), KeyError("bug")])
def test_transient_and_unknown_errors_reach_airflow_retries_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)), domain_errors():
        raise error


def test_bad_input_is_quarantined_and_the_message_says_where(tmp_path: Path) -> None:
    seen: list[Exception] = []

    def quarantine(exc: Exception) -> Path:
        seen.append(exc)
        return tmp_path / "quarantine"

    error = DataValidationError("raw/2025-12-01/data.csv: bad")
    with pytest.raises(AirflowFailException, match="quarantined to"), fail_fast_on_bad_input(quarantine):
        raise error
    assert seen == [error]


def test_a_failing_quarantine_never_hides_the_data_error() -> None:
    def broken(exc: Exception) -> Path:
        raise OSError("disk full")

    with pytest.raises(AirflowFailException, match="data.csv: bad"), domain_errors(quarantine=broken):
        raise DataValidationError("raw/2025-12-01/data.csv: bad")
