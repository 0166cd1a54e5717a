"""Model files and model URIs, injected for real: crafted model files that run code when loaded, a model
with no recorded checksum, and a promotion landing while a run that named the champion alias scores.

Crafted files (`tests/helpers/malicious_models.py`) are genuine skops files of a fitted model with one
extra attribute that makes skops call `builtins.eval`, `numpy.testing.runstring`, `numpy.load` (pickles
allowed) or an `sklearn.*` function that runs a Python script, each creating a marker file; their MLmodel
asks to trust that type, and MLflow's own loader runs them (checked first, so the cases are live). They
are given to `retrain predict --model PATH` and, through the Airflow Variable `retrain_model_uri`, to a
real `batch_predict` run.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from tests.faults.conftest import CHAT, TOKEN, environment, runner_for, sent
from tests.helpers.malicious_models import PAYLOADS, model_folder
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

TIMELINE = days("2025-12-01", 8)
VARIABLE = "AIRFLOW_VAR_RETRAIN_MODEL_URI"  # the Airflow Variable retrain_model_uri, from the environment


@pytest.fixture(scope="module")
def home(tmp_path_factory, airflow_home, tg):  # type: ignore[no-untyped-def]
    """Eight landed days, champion v1 (trained on day 7) and a registered v2 that is not champion."""
    root = tmp_path_factory.mktemp("model-files")
    extra = {"TG_TOKEN": TOKEN, "TG_CHAT": CHAT, "TG_API_URL": tg.url}
    with environment(root / "home", **extra):
        from retrain.data.generate import generate_and_write
        from retrain.layout import Layout
        from retrain.records import ledger
        from retrain.registry import Registry
        from retrain.settings import load_settings

        settings = load_settings()
        layout = Layout(settings.data_dir)
        for ds in TIMELINE:
            generate_and_write(settings, layout, ds)
        runner = runner_for(airflow_home)
        assert runner.run("retrain", TIMELINE[6]).ok
        with pytest.MonkeyPatch.context() as strict:
            strict.setenv("RETRAIN_METRIC_THRESHOLD", "0.999")  # the day-8 challenger is skipped...
            assert runner.run("retrain", TIMELINE[7]).ok
        skipped = ledger.find(settings.ledger_path, ds=TIMELINE[7], decision="skip")["run_id"]
        registry = Registry.from_settings(settings)
        v2 = registry.register(skipped, ds=TIMELINE[7])  # ...and registered by hand: a version to promote
        assert (registry.champion().version, v2) == ("1", "2")
        yield SimpleNamespace(root=root, runner=runner, tg=tg, layout=layout, registry=registry, settings=settings)


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from retrain.cli import app

    result = CliRunner().invoke(app, list(args))
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result.exit_code, " ".join(text.split())


def _genuine_folder(home: Any, folder: Path) -> Path:
    """The champion, saved as a plain MLflow model folder: the right model, but no checksum on record."""
    import mlflow.sklearn

    from retrain.registry import skops_trusted_types

    model = home.registry.load_model(home.registry.champion())
    mlflow.sklearn.save_model(
        model,
        str(folder),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=skops_trusted_types(model) or None,
        pip_requirements=["scikit-learn", "skops"],
    )
    return folder


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_crafted_files_are_live(tmp_path: Path, payload: str) -> None:
    # MLflow's own loader (what retrain called before) honours the MLmodel's trusted types: code runs
    import mlflow.sklearn

    marker = tmp_path / "marker"
    mlflow.sklearn.load_model(str(model_folder(tmp_path / "model", payload, marker)))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_retrain_predict_never_runs_a_crafted_model(home: Any, tmp_path: Path, payload: str) -> None:
    # given a crafted model folder
    marker = tmp_path / "marker"
    folder = model_folder(tmp_path / "model", payload, marker)
    output = tmp_path / "predictions.csv"
    for flags in ([], ["--allow-unverified"]):
        # when it is given to `retrain predict`, with or without --allow-unverified
        code, text = _cli(
            "predict", "--input", str(home.layout.raw_data(TIMELINE[0])), "--output", str(output),
            "--model", str(folder), *flags,
        )  # fmt: skip
        # then it is refused, naming the type, and nothing ran
        assert code == 2, text
        assert f"type(s) retrain does not load: {payload} (in {folder}" in " ".join(text.split()), text
        assert "Traceback" not in text
        assert not marker.exists()
        assert not output.exists()


@pytest.mark.parametrize("payload", ["numpy.testing.runstring", PAYLOADS[-1]])
def test_batch_predict_never_runs_a_crafted_model_variable(home: Any, tmp_path: Path, payload: str) -> None:
    # given the Variable naming a crafted model folder, and unverified models allowed (so that only the
    # type check stands between the file and the worker)
    ds = TIMELINE[1] if payload == PAYLOADS[-1] else TIMELINE[2]
    marker = tmp_path / "marker"
    folder = model_folder(tmp_path / "model", payload, marker)
    alerts_before = len(sent(home.tg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(VARIABLE, str(folder))
        mp.setenv("RETRAIN_ALLOW_UNVERIFIED_MODELS", "true")
        # when the day is scored
        result = home.runner.run("batch_predict", ds)
    # then the run fails at once, before any batch; the alert names the type; nothing ran or was written
    assert result.tasks["resolve_model"] == "success", result.tasks
    assert result.tasks["list_batches"] == "failed", result.tasks
    assert not any(task.startswith("predict_batch") and state == "success" for task, state in result.tasks.items())
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1 and "try=1" in alerts[0], alerts
    assert payload in alerts[0], alerts[0]
    assert not marker.exists()
    assert not home.layout.predictions_file(ds).exists()


def test_retrain_predict_needs_a_flag_for_a_model_without_checksum(home: Any, tmp_path: Path) -> None:
    # given the right model, saved somewhere without a recorded SHA-256
    folder = _genuine_folder(home, tmp_path / "model")
    source = home.layout.raw_data(TIMELINE[0])
    output = tmp_path / "predictions.csv"
    # when scored without the flag / then refused, saying how to allow it
    code, text = _cli("predict", "--input", str(source), "--output", str(output), "--model", str(folder))
    assert code == 2, text
    assert "no recorded SHA-256" in text and "--allow-unverified" in text, text
    assert not output.exists()
    # when scored with --allow-unverified / then it loads and scores every row, naming the folder
    code, text = _cli(
        "predict", "--input", str(source), "--output", str(output), "--model", str(folder), "--allow-unverified"
    )
    assert code == 0, text
    predictions = pd.read_csv(output)
    assert len(predictions) == len(pd.read_csv(source))
    assert set(predictions["model_version"]) == {str(folder)}


def test_batch_predict_needs_the_setting_for_a_variable_model_without_checksum(home: Any, tmp_path: Path) -> None:
    folder = _genuine_folder(home, tmp_path / "model")
    refused_day, allowed_day = TIMELINE[3], TIMELINE[4]
    alerts_before = len(sent(home.tg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(VARIABLE, str(folder))
        # when the Variable names it and RETRAIN_ALLOW_UNVERIFIED_MODELS is not set
        refused = home.runner.run("batch_predict", refused_day)
        # and when it is set
        mp.setenv("RETRAIN_ALLOW_UNVERIFIED_MODELS", "true")
        allowed = home.runner.run("batch_predict", allowed_day)
    # then the first is refused at once with one alert saying how to allow it
    assert refused.tasks["list_batches"] == "failed", refused.tasks
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1 and "try=1" in alerts[0], alerts
    assert "no recorded SHA-256" in alerts[0], alerts[0]
    assert not home.layout.predictions_file(refused_day).exists()
    # and the second scores the day with it
    assert allowed.ok, allowed.tasks
    predictions = pd.read_csv(home.layout.predictions_file(allowed_day))
    assert set(predictions["model_version"]) == {str(folder)}


def test_an_alias_is_pinned_once_per_run(home: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from retrain.registry import Registry

    registry, name, ds = home.registry, home.settings.model_name, TIMELINE[5]
    assert registry.champion().version == "1"
    # given the Variable naming the champion alias, four batches, and v2 promoted right after
    # resolve_model resolved the alias (before list_batches and the mapped predict_batch tasks)
    original_pin = Registry.pin

    def pin_then_promote(self: Registry, uri: str) -> Any:
        pinned = original_pin(self, uri)
        self.promote("2", expected_current="1", reason="promoted while batch_predict runs (test)")
        return pinned

    monkeypatch.setattr(Registry, "pin", pin_then_promote)
    monkeypatch.setenv(VARIABLE, f"models:/{name}@champion")
    monkeypatch.setenv("RETRAIN_BATCH_ROWS", "100")
    try:
        # when the day is scored
        result = home.runner.run("batch_predict", ds)
        # then the promotion happened during the run, yet every row was scored by v1, written as "1"
        assert result.ok, result.tasks
        assert sorted(t for t in result.tasks if t.startswith("predict_batch[")) == [
            f"predict_batch[{i}]" for i in range(4)
        ]
        assert registry.champion().version == "2"
        predictions = pd.read_csv(home.layout.predictions_file(ds))
        assert len(predictions) == 400
        assert set(predictions["model_version"].astype(str)) == {"1"}
        model = registry.load_model(f"models:/{name}/1")
        features = pd.read_csv(home.layout.raw_data(ds))[list(model.feature_names_in_)]
        assert (predictions["probability"] - model.predict_proba(features)[:, 1]).abs().max() < 1e-6
        # and `retrain predict --model …@champion` writes the concrete version it resolved (now 2)
        monkeypatch.setattr(Registry, "pin", original_pin)
        output = tmp_path / "cli.csv"
        code, text = _cli(
            "predict", "--input", str(home.layout.raw_data(ds)), "--output", str(output),
            "--model", f"models:/{name}@champion",
        )  # fmt: skip
        assert code == 0, text
        assert set(pd.read_csv(output)["model_version"].astype(str)) == {"2"}
        assert f"models:/{name}/2" in text
    finally:
        if registry.champion().version == "2":
            registry.rollback(to="1", reason="test cleanup")


@pytest.mark.parametrize(
    ("suffix", "fragment"),
    [("/99", "no version '99'"), ("@nosuchalias", "no alias 'nosuchalias'")],
    ids=["version", "alias"],
)
def test_batch_predict_with_a_variable_naming_no_model(home: Any, suffix: str, fragment: str) -> None:
    ds, uri = TIMELINE[6], f"models:/{home.settings.model_name}{suffix}"
    alerts_before = len(sent(home.tg))
    state_before = [(v["version"], v["aliases"], v["tags"]) for v in home.registry.versions()]
    with pytest.MonkeyPatch.context() as mp:
        # given the Variable retrain_model_uri naming a version / alias that does not exist
        mp.setenv(VARIABLE, uri)
        # when the day is scored
        result = home.runner.run("batch_predict", ds)
    # then resolve_model fails on its first try (retries are allowed), with one alert naming the URI and
    # what exists; nothing is scored or written, the registry is unchanged
    assert result.tasks["resolve_model"] == "failed", result.tasks
    assert not any(task.startswith("predict_batch") and state == "success" for task, state in result.tasks.items())
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1 and "try=1" in alerts[0], alerts
    assert uri in alerts[0] and fragment in alerts[0] and "registered versions: 1, 2" in alerts[0], alerts[0]
    assert not home.layout.predictions_file(ds).exists()
    assert [(v["version"], v["aliases"], v["tags"]) for v in home.registry.versions()] == state_before
