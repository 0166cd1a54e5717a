"""retrain.ops.home: airflow.cfg bakes no path of the home; a moved or copied home's MLflow store is rebased
onto the home's own mlartifacts/ (the end-to-end case is tests/faults/test_moved_home.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrain.ops.home import CFG_HEADER, airflow_cfg, prepare_airflow_home, rebase_mlflow_store, relocate
from retrain.settings import load_settings

LEGACY_CFG = f"""{CFG_HEADER}; edit freely, retrain only writes it when it is missing.
[core]
dags_folder = /somewhere/dags
load_examples = False

[database]
sql_alchemy_conn = sqlite:////old/place/home/airflow/airflow.db

[logging]
base_log_folder = /old/place/home/airflow/logs
"""


def test_airflow_cfg_names_no_database_or_log_path(tmp_path: Path) -> None:
    text = airflow_cfg(tmp_path / "dags")
    assert f"dags_folder = {tmp_path / 'dags'}" in text
    assert "sql_alchemy_conn" not in text and "base_log_folder" not in text


def test_a_legacy_airflow_cfg_loses_its_baked_paths(tmp_path: Path) -> None:
    # given: a home whose airflow.cfg an earlier version wrote with absolute paths
    settings = load_settings({"RETRAIN_HOME": str(tmp_path / "home")})
    settings.airflow_home.mkdir(parents=True)
    (settings.airflow_home / "airflow.cfg").write_text(LEGACY_CFG, encoding="utf-8")

    # when
    changes = relocate(settings)

    # then: the paths are gone (Airflow derives them from AIRFLOW_HOME), the rest is kept, and it says so
    text = (settings.airflow_home / "airflow.cfg").read_text(encoding="utf-8")
    assert "/old/place" not in text
    assert "dags_folder = /somewhere/dags" in text
    assert len(changes) == 1 and "AIRFLOW_HOME" in changes[0]
    assert relocate(settings) == []  # idempotent


def test_a_users_own_airflow_cfg_is_left_alone(tmp_path: Path) -> None:
    settings = load_settings({"RETRAIN_HOME": str(tmp_path / "home")})
    settings.airflow_home.mkdir(parents=True)
    own = LEGACY_CFG.replace(CFG_HEADER, "# mine")
    (settings.airflow_home / "airflow.cfg").write_text(own, encoding="utf-8")
    assert relocate(settings) == []
    assert (settings.airflow_home / "airflow.cfg").read_text(encoding="utf-8") == own


def test_prepare_airflow_home_writes_the_cfg_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    settings = load_settings({"RETRAIN_HOME": str(tmp_path / "home")})
    home = prepare_airflow_home(settings)
    assert home == settings.airflow_home
    cfg = home / "airflow.cfg"
    cfg.write_text(cfg.read_text() + "# edited\n")
    prepare_airflow_home(settings)
    assert cfg.read_text().endswith("# edited\n")


def _store_with_a_model(home: Path) -> str:
    """An MLflow store in `home` with one run and one artifact, the way Registry lays it out."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.create_experiment("m", artifact_location=(home / "mlartifacts" / "m").as_uri())
    run = client.create_run(experiment)
    note = home / "note.txt"
    note.write_text("hello", encoding="utf-8")
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_a_copied_store_is_rebased_onto_its_own_artifacts(tmp_path: Path) -> None:
    # given: a home with a run and its artifact, copied elsewhere, the original then removed
    original, copy = tmp_path / "a" / "home", tmp_path / "b" / "home"
    original.mkdir(parents=True)
    run_id = _store_with_a_model(original)
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    # when
    settings = load_settings({"RETRAIN_HOME": str(copy)})
    changes = rebase_mlflow_store(settings)

    # then: every stored location now points into the copy, and the artifact is read from there
    assert len(changes) == 1 and str(original / "mlartifacts") in changes[0]
    assert str(original).encode() not in (copy / "mlflow.db").read_bytes()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    assert client.get_experiment_by_name("m").artifact_location == (copy / "mlartifacts" / "m").as_uri()
    assert client.get_run(run_id).info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/")
    local = client.download_artifacts(run_id, "note.txt", str(tmp_path))
    assert Path(local).read_text(encoding="utf-8") == "hello"
    assert not original.exists()
    assert rebase_mlflow_store(settings) == []  # idempotent


def test_a_store_named_by_the_environment_is_never_rewritten(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _store_with_a_model(home)
    before = (home / "mlflow.db").read_bytes()
    moved = tmp_path / "moved"
    shutil.copytree(home, moved)
    settings = load_settings({"RETRAIN_HOME": str(moved), "MLFLOW_TRACKING_URI": "http://127.0.0.1:1"})
    assert rebase_mlflow_store(settings) == []
    assert (moved / "mlflow.db").read_bytes() == before
