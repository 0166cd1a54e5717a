"""Errors are classified once: what fails at once and what a retry may fix."""

from __future__ import annotations

import sqlite3

import pytest

from retrain.data.errors import DataValidationError
from retrain.errors import BadInputError, ConfigurationError, ConflictError, TransientError, classify, fails_at_once
from retrain.model.train import EstimatorError
from retrain.settings import SettingsError


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (BadInputError("model has no version '99'"), "bad_input"),
        (DataValidationError.at("raw/2025-12-01/target.csv", "one class", fix="x", column="target"), "bad_input"),
        (ConfigurationError("RETRAIN_X"), "configuration"),
        (SettingsError("invalid setting: RETRAIN_METRIC_THRESHOLD"), "configuration"),
        (EstimatorError("RETRAIN_ESTIMATOR='sklearn.cluster.KMeans' is not a classifier"), "configuration"),
        (ConflictError("champion moved"), "conflict"),
        (TransientError("later"), "transient"),
        (ConnectionRefusedError("refused"), "transient"),
        (sqlite3.OperationalError("database is locked"), "transient"),
        (RuntimeError("(psycopg2.OperationalError) could not connect to server: Connection refused"), "transient"),
        (RuntimeError("API request failed with error code 503"), "transient"),
        (KeyError("a bug"), "unknown"),
        (FileNotFoundError("raw/2025-12-08/ has not landed"), "unknown"),
    ],
)
def test_each_error_has_one_kind(error: Exception, kind: str) -> None:
    assert classify(error) == kind
    assert fails_at_once(error) == (kind in ("bad_input", "configuration", "conflict"))


def test_registry_refusals_are_classified_once_the_registry_is_loaded() -> None:
    from retrain.registry import StaleChampionError, TamperedModelError

    assert classify(TamperedModelError("modified")) == "bad_input"
    assert classify(StaleChampionError("moved")) == "conflict"
