"""The typed settings: defaults, the seed names, fail-fast messages that name the setting, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.settings import Settings, SettingsError, env_names, load_settings


def test_defaults_match_the_documented_table(tmp_path: Path) -> None:
    # given only a home
    settings = load_settings({"RETRAIN_HOME": str(tmp_path)})
    # then every default is the one docs/DESIGN.md's settings table gives
    assert settings.model_name == "retrain-model"
    assert settings.metric == "roc_auc"
    assert settings.metric_threshold == 0.8
    assert settings.min_improvement == 0.0
    assert settings.task_retries == 2
    assert settings.data_dir == tmp_path / "data"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert (settings.drift_method, settings.drift_psi_floor, settings.drift_confidence) == ("calibrated", 0.1, 0.99)
    assert settings.drift_null_resamples == 5000
    assert settings.slice_columns == []


def test_slice_columns_are_a_comma_separated_list(tmp_path: Path) -> None:
    settings = load_settings({"RETRAIN_HOME": str(tmp_path), "RETRAIN_SLICE_COLUMNS": " plan, region ,,"})
    assert settings.slice_columns == ["plan", "region"]


@pytest.mark.parametrize(
    ("seed_name", "value", "field", "expected"),
    [
        ("METRIC_THRESHOLD", "0.7", "metric_threshold", 0.7),
        ("MODEL_VERSION", "v1.2", "model_label", "v1.2"),
        ("TG_CHAT", "42", "telegram_chat", "42"),
        ("TG_API_URL", "http://127.0.0.1:9", "telegram_api_url", "http://127.0.0.1:9"),
    ],
)
def test_the_seed_names_are_read_too(tmp_path: Path, seed_name: str, value: str, field: str, expected: object) -> None:
    environ = {"RETRAIN_HOME": str(tmp_path), seed_name: value}
    if seed_name == "TG_CHAT":
        environ["TG_TOKEN"] = "123:abc"
    assert getattr(load_settings(environ), field) == expected


def test_both_the_retrain_names_and_the_seed_names_are_known() -> None:
    names = env_names()
    assert {"RETRAIN_METRIC_THRESHOLD", "METRIC_THRESHOLD", "TG_TOKEN", "MLFLOW_TRACKING_URI"} <= names


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("RETRAIN_METRIC_THRESHOLD", "1.5", "RETRAIN_METRIC_THRESHOLD"),
        ("RETRAIN_METRIC", "auc_roc", "RETRAIN_METRIC"),
        ("RETRAIN_ESTIMATOR_PARAMS", "{not json", "RETRAIN_ESTIMATOR_PARAMS"),
        ("RETRAIN_WINDOW_DAYS", "0", "RETRAIN_WINDOW_DAYS"),
        ("RETRAIN_DRIFT_METHOD", "psi", "RETRAIN_DRIFT_METHOD"),
        ("RETRAIN_DRIFT_CONFIDENCE", "1", "RETRAIN_DRIFT_CONFIDENCE"),
    ],
)
def test_a_wrong_setting_fails_naming_it(tmp_path: Path, name: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({"RETRAIN_HOME": str(tmp_path), name: value})


def test_a_misspelled_setting_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"RETRAIN_METRIK.*did you mean RETRAIN_METRIC\?"):
        load_settings({"RETRAIN_HOME": str(tmp_path), "RETRAIN_METRIK": "f1"})


def test_half_a_telegram_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TG_CHAT"):
        load_settings({"RETRAIN_HOME": str(tmp_path), "TG_TOKEN": "123:abc"})


def test_public_dict_masks_every_secret(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "RETRAIN_HOME": str(tmp_path),
            "TG_TOKEN": "123:supersecret",
            "TG_CHAT": "1",
            "TG_API_URL": "https://bot:hunter2@tg.example",
            "MLFLOW_TRACKING_URI": "postgresql://u:pa55word@127.0.0.1/mlflow",
        }
    )
    text = repr(settings.public_dict())
    for secret in ("supersecret", "hunter2", "pa55word"):
        assert secret not in text
    assert isinstance(settings, Settings)


def test_another_estimator_without_params_gets_its_own_defaults(tmp_path: Path) -> None:
    # given a RandomForest and no RETRAIN_ESTIMATOR_PARAMS (found by a new-user run on penguins)
    from retrain.model.train import build_estimator

    settings = load_settings(
        {"RETRAIN_HOME": str(tmp_path), "RETRAIN_ESTIMATOR": "sklearn.ensemble.RandomForestClassifier"}
    )
    # then no parameter of the default estimator leaks into it
    assert settings.estimator_params == {}
    build_estimator(settings.estimator, settings.estimator_params, settings.seed)


@pytest.mark.parametrize(
    ("environ", "named", "says"),
    [
        ({"RETRAIN_SOURCE": "/no/such/days"}, "RETRAIN_SOURCE", "does not exist"),
        (
            {"RETRAIN_SOURCE": "nosuchdb://u:pw-Xy9@h/db", "RETRAIN_SOURCE_QUERY": "SELECT :ds"},
            "RETRAIN_SOURCE",
            "dialect",
        ),
        ({"RETRAIN_SOURCE": "postgresql://u:pw-Xy9@127.0.0.1/db"}, "RETRAIN_SOURCE_QUERY", "SQL returning one day"),
        ({"RETRAIN_SOURCE": "airflow://"}, "RETRAIN_SOURCE", "connection id"),
        ({"RETRAIN_SOURCE_QUERY": "SELECT * FROM t"}, "RETRAIN_SOURCE_QUERY", ":ds parameter"),
        ({"RETRAIN_PREDICTIONS_URL": "not a url"}, "RETRAIN_PREDICTIONS_URL", "not a database URL"),
        ({"RETRAIN_PREDICTIONS_TABLE": "drop table;"}, "RETRAIN_PREDICTIONS_TABLE", "letters, digits"),
    ],
)
def test_a_bad_source_or_sink_fails_fast_naming_the_setting(tmp_path: Path, environ, named: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"RETRAIN_HOME": str(tmp_path), **environ})
    assert named in str(caught.value) and says in str(caught.value)
    assert "pw-Xy9" not in str(caught.value)


def test_sources_and_sinks_are_typed_and_their_passwords_masked(tmp_path: Path) -> None:
    from retrain.secrets import secret_values
    from retrain.urls import source_kind

    settings = load_settings(
        {
            "RETRAIN_HOME": str(tmp_path),
            "RETRAIN_SOURCE": "postgresql://reader:pw-Src1@127.0.0.1:5432/shop",
            "RETRAIN_SOURCE_QUERY": "SELECT * FROM events WHERE day = :ds",
            "RETRAIN_PREDICTIONS_URL": "postgresql://writer:pw-Snk2@127.0.0.1:5432/shop",
        }
    )
    assert settings.label_column == "target" and settings.predictions_table == "predictions"
    public = str(settings.public_dict())
    assert "pw-Src1" not in public and "pw-Snk2" not in public and "reader:***@127.0.0.1" in public
    assert {"pw-Src1", "pw-Snk2"} <= set(secret_values(settings))
    kinds = {
        None: "synthetic",
        str(tmp_path): "folder",
        "airflow://shop_db": "airflow",
        "s3://aws_default@bucket/days": "object_storage",
        "file:///srv/days": "object_storage",
        "sqlite:////srv/shop.db": "database",
    }
    assert {value: source_kind(value) for value in kinds} == kinds


@pytest.mark.parametrize(
    ("extra", "named", "why"),
    [
        ({"RETRAIN_ESTIMATOR": "sklearn.ensemble.HistGradientBoostingClasifier"}, "RETRAIN_ESTIMATOR", "no attribute"),
        ({"RETRAIN_ESTIMATOR": "sklearn.linear_model.LinearRegression"}, "RETRAIN_ESTIMATOR", "classifier"),
        ({"RETRAIN_ESTIMATOR_PARAMS": '{"max_iterations": 5}'}, "RETRAIN_ESTIMATOR_PARAMS", "max_iterations"),
    ],
)
def test_check_usable_refuses_at_start_naming_the_setting(
    tmp_path: Path, extra: dict[str, str], named: str, why: str
) -> None:
    from retrain.settings import check_usable

    settings = load_settings({"RETRAIN_HOME": str(tmp_path), **extra})  # passes the shape checks
    with pytest.raises(SettingsError, match=named) as caught:
        check_usable(settings)
    assert why in str(caught.value)


def test_check_usable_accepts_a_good_estimator_and_its_params(tmp_path: Path) -> None:
    from retrain.settings import check_usable

    check_usable(
        load_settings(
            {
                "RETRAIN_HOME": str(tmp_path),
                "RETRAIN_ESTIMATOR": "sklearn.linear_model.LogisticRegression",
                "RETRAIN_ESTIMATOR_PARAMS": '{"max_iter": 50}',
            }
        )
    )


def test_effective_locations_are_absolute_and_mask_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    settings = load_settings(
        {"RETRAIN_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": "postgresql://u:pa55word@127.0.0.1/mlflow"}
    )
    where = settings.effective_locations()
    assert "pa55word" not in where["mlflow_tracking_uri"] and "127.0.0.1/mlflow" in where["mlflow_tracking_uri"]
    assert where["data_dir"] == str(tmp_path / "data")
    assert where["airflow_home"] == str(tmp_path / "airflow")
    assert where["mlflow_telemetry"] == "off"  # retrain's default (the package sets it on import)


def test_the_effective_settings_say_when_mlflow_telemetry_was_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a user who opted in to MLflow's usage reports
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    # then `retrain settings` says where they go; DO_NOT_TRACK still turns them off, as in MLflow
    assert load_settings({}).effective_locations()["mlflow_telemetry"].startswith("on: ")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    assert load_settings({}).effective_locations()["mlflow_telemetry"] == "off"
