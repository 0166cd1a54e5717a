"""The drift-monitoring job without Airflow: champion columns only, one record per day, the trigger."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.unit.jobs.conftest import LATER, ChampionHome, build_home

from retrain.data.errors import DataValidationError
from retrain.jobs.monitor import DriftResult, MonitorJob, drift_alert_text
from retrain.records import ledger
from retrain.registry.cached import CachedRegistry


@pytest.fixture(scope="module")
def home(clean_env) -> ChampionHome:  # type: ignore[no-untyped-def]
    # a strong drift from the first later day on (the champion's window is calm)
    return build_home(clean_env, drift_start=LATER[0], drift_strength=4.0)


@pytest.fixture
def job(home: ChampionHome) -> MonitorJob:
    return MonitorJob(home.settings, home.layout, CachedRegistry(home.settings, home.registry))


def _drift_entries(home: ChampionHome, ds: str) -> list[dict]:
    return [e for e in ledger.read(home.settings.ledger_path) if e["decision"] == "drift" and e["ds"] == ds]


def test_sustained_drift_is_recorded_and_retrains_on_the_second_day(job: MonitorJob, home: ChampionHome) -> None:
    # when: two drifted days in a row are assessed (RETRAIN_DRIFT_CONSECUTIVE_DAYS defaults to 2)
    first = job.run(LATER[0])
    second = job.run(LATER[1])
    # then: both drifted; only the second starts a retrain; each is recorded once, on the champion's window
    assert (first.drifted, first.should_retrain) == (True, False)
    assert (second.drifted, second.should_retrain) == (True, True)
    assert second.reasons[-1] == "retrain triggered"
    assert second.champion_version == home.version
    assert second.reference == ["2025-12-01", "2025-12-07"]
    assert 0 < len(second.top) <= 5 and {"feature", "psi", "ks"} == set(second.top[0])
    (entry,) = _drift_entries(home, LATER[1])
    assert entry["triggered_retrain"] is True and entry["trigger"] == "schedule"
    assert [f["feature"] for f in entry["features"]] == home.columns
    # and: a rerun of a day does not record it twice
    job.run(LATER[1])
    assert len(_drift_entries(home, LATER[1])) == 1


def test_only_the_champion_columns_are_read(job: MonitorJob, home: ChampionHome) -> None:
    # given: a later export with an id column of text values first and a numeric one last
    ds = LATER[2]
    frame = pd.read_csv(home.layout.raw_data(ds))
    frame.insert(0, "customer_id", [f"cust-{i}" for i in range(len(frame))])
    frame["row_id"] = range(len(frame))
    frame.to_csv(home.layout.raw_data(ds), index=False)
    # when / then: assessed on the champion's features only; no older day is blamed
    result = job.run(ds)
    (entry,) = _drift_entries(home, ds)
    assert [f["feature"] for f in entry["features"]] == home.columns
    assert result.champion_version == home.version


def test_a_missing_champion_column_names_the_day_itself(job: MonitorJob, home: ChampionHome) -> None:
    ds = LATER[3]
    frame = pd.read_csv(home.layout.raw_data(ds))
    frame.drop(columns=[home.columns[0]]).to_csv(home.layout.raw_data(ds), index=False)
    with pytest.raises(DataValidationError, match=rf"{ds}/data.csv.*{home.columns[0]!r}"):
        job.run(ds)
    assert _drift_entries(home, ds) == []


def test_no_champion_compares_nothing(home: ChampionHome) -> None:
    class NoChampion:
        def champion(self) -> None:
            return None

    result = MonitorJob(home.settings, home.layout, NoChampion()).run(LATER[0])  # type: ignore[arg-type]
    assert result == DriftResult(LATER[0], drifted=False, should_retrain=False, reasons=["no champion yet"])
    assert DriftResult.from_dict(result.to_dict()) == result


def test_the_alert_names_the_day_the_champion_and_the_top_features(job: MonitorJob, home: ChampionHome) -> None:
    result = DriftResult(
        "2025-12-09",
        True,
        True,
        ["retrain triggered"],
        0.5,
        "3",
        ["2025-12-01", "2025-12-07"],
        [{"feature": "f00", "psi": 1.2, "ks": 0.4}],
    )
    text = drift_alert_text(result, "retrain-model")
    assert text.startswith("DRIFT: retrain-model on 2025-12-09: 50% of features drifted vs the champion v3")
    assert "2025-12-01..2025-12-07" in text and "f00 (PSI 1.2, KS 0.4)" in text and "trigger=drift" in text
    # and: with no channel configured the alert goes to the log, and is recorded in the outbox
    results = job.alert(result)
    assert [(r.channel, r.ok) for r in results] == [("log", True)]
    assert home.settings.outbox_path.is_file()


def test_fifty_row_days_of_a_stable_stream_neither_drift_nor_retrain(job: MonitorJob, home: ChampionHome) -> None:
    # given: four later days of 50 rows each from the champion's own (undrifted) stream
    from retrain.data.generate import generate_day, write_day

    days = ["2025-12-20", "2025-12-21", "2025-12-22", "2025-12-23"]
    for ds in days:
        X, y = generate_day(ds, rows=50, n_features=len(home.columns), seed=1, drift_start=None, drift_strength=0.0)
        write_day(home.layout, ds, X, y)
    # when: each is monitored
    results = [job.run(ds) for ds in days]
    # then: no day drifted, nothing was triggered
    assert [(r.drifted, r.should_retrain) for r in results] == [(False, False)] * len(days)
    # and: the null of this champion at 50 rows was drawn once and kept, and every record shows, per
    # feature, the PSI, the null's quantile (far above what a 300-row day needs) and the floor
    cache = home.layout.drift_null_file(home.version, 50)
    assert cache.is_file()
    for ds in days:
        (entry,) = _drift_entries(home, ds)
        assert entry["thresholds"]["method"] == "calibrated" and entry["thresholds"]["null_rows"] == 50
        assert all(f["null_quantile"] > 0.2 and f["floor"] == 0.1 for f in entry["features"])
