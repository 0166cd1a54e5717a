"""A RETRAIN_HOME that was moved (`mv`) or copied (`cp -a`) keeps working from its new place and never
writes outside itself (issue 13 item 6).

One home is built for real in a fresh process, as `retrain run` builds it (`prepare_airflow_home`, its
own AIRFLOW_HOME under RETRAIN_HOME, SQLite for Airflow and MLflow): a week of data and a first
champion. Then, as a user would, through the `retrain` command in fresh processes:
- `cp -a` it and run a retrain (a new MLflow run, its model artifacts) and a batch_predict (loads the
  champion) in the copy: the original is byte for byte unchanged and the copy refers to it nowhere;
- `mv` the original and run the same from the new place: the old path is never re-created.
The copy test leaves the original as it was (that is what it asserts), so the move test moves it next.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.faults.conftest import digest_tree
from tests.faults.homes import DAYS, build_home, retrain_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A week of data and a first champion, built as `retrain run` builds a home."""
    home = tmp_path_factory.mktemp("site") / "home"
    build_home(home, DAYS, retrain_on=DAYS[6])
    return home


LOCATORS = ("mlflow.db", "airflow/airflow.cfg")
"""The files that decide where things are read and written. Records of the past may name the old place
and are left as they are: the XComs of earlier runs in Airflow's database, and the `artifact_path` a
model's MLmodel file keeps of where it was first logged (an artifact is never rewritten)."""


def _mentions(home: Path, text: str) -> list[str]:
    """The locator files of `home` whose bytes contain `text`."""
    return [name for name in LOCATORS if text.encode() in (home / name).read_bytes()]


def _runs_and_new_artifacts(home: Path) -> tuple[str, str, list[str]]:
    """The state of retrain's and batch_predict's last DAG runs (the home's own Airflow database), and the
    artifact URIs of the MLflow runs of the last day."""
    airflow_db = sqlite3.connect(home / "airflow" / "airflow.db")
    try:

        def last(dag_id: str) -> str:
            row = airflow_db.execute(
                "SELECT state FROM dag_run WHERE dag_id = ? AND logical_date LIKE ? ORDER BY id DESC LIMIT 1",
                (dag_id, f"{DAYS[7]}%"),
            ).fetchone()
            return row[0] if row else "missing"

        states = last("retrain"), last("batch_predict")
    finally:
        airflow_db.close()
    mlflow_db = sqlite3.connect(home / "mlflow.db")
    try:
        rows = mlflow_db.execute("SELECT artifact_uri FROM runs WHERE name = ?", (f"retrain-{DAYS[7]}",))
        uris = [row[0] for row in rows]
    finally:
        mlflow_db.close()
    return states[0], states[1], uris


def _run_a_day(home: Path) -> None:
    """A retrain (trains, logs a run and its model) and a batch_predict (loads the champion) of the 8th day."""
    for args in (("run", "retrain", "--date", DAYS[7]), ("run", "batch_predict", "--date", DAYS[7])):
        done = retrain_cli(home, *args)
        assert done.returncode == 0, f"retrain {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_a_copied_home_writes_only_into_the_copy(original: Path, tmp_path: Path) -> None:
    # given: a copy of a working home (cp -a), the original's every byte recorded
    copy = tmp_path / "copy" / "home"
    copy.parent.mkdir()
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    before = digest_tree(original)

    # when: the copy retrains and scores a day
    _run_a_day(copy)

    # then: the original is untouched, not one file added or changed
    assert digest_tree(original) == before
    # and: the runs are in the copy's own Airflow database, the new model's artifacts in its own folder
    retrain_state, predict_state, uris = _runs_and_new_artifacts(copy)
    assert (retrain_state, predict_state) == ("success", "success")
    assert uris and all(uri.startswith((copy / "mlartifacts").as_uri() + "/") for uri in uris), uris
    assert (copy / "data" / "predictions" / DAYS[7] / "predictions.csv").is_file()
    # and: nothing in the copy points back at the original any more
    assert _mentions(copy, str(original)) == []


def test_a_moved_home_runs_from_its_new_place_and_never_recreates_the_old_one(original: Path, tmp_path: Path) -> None:
    # given: the home moved elsewhere (mv)
    moved = tmp_path / "moved" / "home"
    moved.parent.mkdir()
    shutil.move(str(original), str(moved))

    # when: it retrains and scores a day from its new place
    _run_a_day(moved)

    # then: the old path was never re-created (no database, no log, no artifact written there)
    assert not original.exists()
    retrain_state, predict_state, uris = _runs_and_new_artifacts(moved)
    assert (retrain_state, predict_state) == ("success", "success")
    assert uris and all(uri.startswith((moved / "mlartifacts").as_uri() + "/") for uri in uris), uris
    assert _mentions(moved, str(original)) == []


def test_a_task_refuses_to_write_into_another_home_until_the_store_is_rebased(tmp_path: Path) -> None:
    """The last line of defence, for a task started outside `retrain` (plain `airflow dags test`): the
    registry refuses an experiment whose artifacts live in another home's `mlartifacts/`."""
    from retrain.registry import Registry, RegistryError

    # given: a store whose experiment was created in another home
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Registry(store, "m", tmp_path / "elsewhere" / "mlartifacts")._experiment()

    # when / then: this home's registry refuses, and says how to fix it
    with pytest.raises(RegistryError, match=r"moved or copied.*retrain status"):
        Registry(store, "m", tmp_path / "home" / "mlartifacts")._experiment()
