"""A real data set shipped inside a package (palmerpenguins), as a new user would point retrain at it.

The penguins' days go through the real DAGs: generate_data (RETRAIN_SOURCE, a folder of days) →
retrain → batch_predict, with the default estimator and with RandomForest; the predictions carry the
species names, and the multiclass per-class probability columns sum to 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.layout import Layout
from retrain.records import ledger
from retrain.registry import Registry
from retrain.settings import load_settings
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
# every column as exported: text (island, sex), floats, an integer (year), a boolean, missing values kept
ALL = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year", "long_flippers"]

PLAIN_CLIENT = """
import sys, mlflow, pandas as pd
from mlflow.cli import cli
uri, name, raw, out, cli_out = sys.argv[1:]
mlflow.set_tracking_uri(uri)
model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
print("TYPES", ";".join(f"{s.name}={s.to_dict()['type']}" for s in model.metadata.get_input_schema().inputs))
pd.DataFrame({"prediction": model.predict(pd.read_csv(raw))}).to_csv(out, index=False)
# the `mlflow models predict` command itself, in this same process (one interpreter start less)
command = ["models", "predict", "-m", f"models:/{name}@champion", "-i", raw, "-t", "csv", "-o", cli_out]
cli.main([*command, "--env-manager", "local"], standalone_mode=False)
"""


def penguin_days(source: Path, timeline: list[str]) -> None:
    """Write all 344 penguins, shuffled, as one folder per day: `{ds}/data.csv` and `{ds}/target.csv`."""
    import palmerpenguins

    frame = palmerpenguins.load_penguins()  # inside the wheel: nothing is downloaded
    frame["long_flippers"] = (frame["flipper_length_mm"] > 200).astype(object).where(frame["flipper_length_mm"].notna())
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    for ds, rows in zip(timeline, np.array_split(np.arange(len(frame)), len(timeline)), strict=True):
        day = source / ds
        day.mkdir(parents=True)
        frame.loc[rows, ALL].to_csv(day / "data.csv", index=False)
        frame.loc[rows, ["species"]].rename(columns={"species": "target"}).to_csv(day / "target.csv", index=False)


def plain_mlflow_reproduces(settings, raw: Path, predictions: pd.DataFrame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A plain MLflow client (another process) and `mlflow models predict` give `predictions` on the raw CSV."""
    import json
    import os
    import subprocess
    import sys

    out, cli_out = tmp_path / "plain.csv", tmp_path / "cli.json"
    uri, name = settings.mlflow_tracking_uri, settings.model_name
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_CLIENT, uri, name, str(raw), str(out), str(cli_out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("TYPES "))
    types = dict(item.split("=") for item in line.removeprefix("TYPES ").split(";"))
    assert types["island"] == "string" and types["year"] == "long" and types["long_flippers"] == "any"  # has gaps
    assert types["bill_length_mm"] == "double"
    assert pd.read_csv(out)["prediction"].tolist() == predictions["prediction"].tolist()
    got = json.loads(cli_out.read_text())  # {"predictions": [...]}
    got = got["predictions"] if isinstance(got, dict) else got
    assert list(got) == predictions["prediction"].tolist()


def _land_and_deploy(runner, monkeypatch: pytest.MonkeyPatch, source: Path, timeline: list[str]) -> str:  # type: ignore[no-untyped-def]
    """Land every day of `source` (RETRAIN_SOURCE), retrain on the last one; its date, once it deployed."""
    monkeypatch.setenv("RETRAIN_SOURCE", str(source))
    monkeypatch.setenv("RETRAIN_HOLDOUT_DAYS", "3")
    monkeypatch.setenv("RETRAIN_METRIC_THRESHOLD", "0.5")
    for ds in timeline:
        assert runner.run("generate_data", ds).ok, ds
    ds = timeline[-1]
    result = runner.run("retrain", ds)
    assert result.ok, result.tasks
    entry = ledger.find(load_settings().ledger_path, ds=ds)
    assert entry["decision"] == "deploy", entry
    return ds


@pytest.mark.parametrize("estimator", [None, "sklearn.ensemble.RandomForestClassifier"])
def test_penguins_from_source_to_predictions_with_species_names(
    runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, estimator: str | None
) -> None:  # type: ignore[no-untyped-def]
    # given: the penguins exported as 6 days of the user's own files, species names as labels
    timeline = days("2026-01-01", 6)
    penguin_days(tmp_path / "source", timeline)
    if estimator:
        monkeypatch.setenv("RETRAIN_ESTIMATOR", estimator)
        monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", "{}")
    # when: the same commands as always
    ds = _land_and_deploy(runner, monkeypatch, tmp_path / "source", timeline)
    settings = load_settings()
    predicted = runner.run("batch_predict", ds)
    assert predicted.ok, predicted.tasks

    # then: the predictions name the species, with one probability column per species summing to 1
    layout = Layout(settings.data_dir)
    predictions = pd.read_csv(layout.predictions_file(ds))
    per_class = [f"probability_{s}" for s in SPECIES]
    assert list(predictions.columns) == ["row", "prediction", "probability", "model_version", *per_class]
    assert set(predictions["prediction"]) <= set(SPECIES) and len(set(predictions["prediction"])) == 3
    np.testing.assert_allclose(predictions[per_class].sum(axis=1), 1.0, atol=1e-9)
    best = predictions[per_class].to_numpy().argmax(axis=1)
    assert (predictions["prediction"].to_numpy() == np.asarray(SPECIES)[best]).all()
    np.testing.assert_allclose(predictions["probability"], predictions[per_class].max(axis=1), atol=1e-12)
    # and: they are the registered champion's own predictions on the raw rows (text, booleans and gaps
    # included: nothing was dropped or encoded by hand), and mostly right
    model = Registry.from_settings(settings).load_model(f"models:/{settings.model_name}@champion")
    assert list(model.classes_) == SPECIES and list(model.feature_names_in_) == ALL
    features = pd.read_csv(layout.raw_data(ds))
    assert features.isna().any().any() and len(predictions) == len(features)
    assert (predictions["prediction"].to_numpy() == model.predict(features[list(model.feature_names_in_)])).all()
    truth = pd.read_csv(tmp_path / "source" / ds / "target.csv")["target"]
    assert (predictions["prediction"] == truth).mean() > 0.9
    # and: a plain MLflow client in another process, and the `mlflow models predict` CLI, reproduce them
    if estimator is None:
        plain_mlflow_reproduces(settings, layout.raw_data(ds), predictions, tmp_path)


def penguin_parquet_days(source: Path, timeline: list[str]) -> pd.DataFrame:
    """Like `penguin_days`, as Parquet written from pandas' own dtypes, as users write it; the penguins, shuffled.

    Even days from `convert_dtypes()` (`Int64`, `Float64`, `boolean`, `string`), odd days through
    `read_csv(..., dtype_backend="pyarrow")` (`int64[pyarrow]`, `double[pyarrow]`, `string[pyarrow]`,
    `bool[pyarrow]`); labels likewise (`string` species).
    """
    import io

    import palmerpenguins

    frame = palmerpenguins.load_penguins()
    frame["long_flippers"] = (frame["flipper_length_mm"] > 200).astype(object).where(frame["flipper_length_mm"].notna())
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    for i, (ds, rows) in enumerate(zip(timeline, np.array_split(np.arange(len(frame)), len(timeline)), strict=True)):
        day = source / ds
        day.mkdir(parents=True)
        features = frame.loc[rows, ALL]
        labels = frame.loc[rows, ["species"]].rename(columns={"species": "target"})
        if i % 2 == 0:
            features, labels = features.convert_dtypes(), labels.convert_dtypes()
        else:
            features = pd.read_csv(io.StringIO(features.to_csv(index=False)), dtype_backend="pyarrow")
            labels = labels.convert_dtypes(dtype_backend="pyarrow")
        features.to_parquet(day / "data.parquet", index=False)
        labels.to_parquet(day / "target.parquet", index=False)
    return frame


def test_penguins_as_nullable_parquet_land_train_and_score_like_plain_ones(
    runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import io

    from typer.testing import CliRunner

    from retrain.cli import app

    # given: the penguins as 6 days of Parquet written from pandas' nullable and pyarrow dtypes
    timeline = days("2026-01-01", 6)
    frame = penguin_parquet_days(tmp_path / "source", timeline)
    # when: they land, train a champion, and the last day is scored
    ds = _land_and_deploy(runner, monkeypatch, tmp_path / "source", timeline)
    settings = load_settings()
    assert runner.run("batch_predict", ds).ok

    # then: raw/ holds the values a plain CSV export holds, typed as plain ones, scored by the champion
    layout = Layout(settings.data_dir)
    landed = pd.read_csv(layout.raw_data(ds))
    rows = frame.tail(len(landed)).reset_index(drop=True)
    plain = pd.read_csv(io.StringIO(rows[ALL].to_csv(index=False)))  # pandas writes 187.0 for 187: dtypes aside
    pd.testing.assert_frame_equal(landed, plain, check_dtype=False)
    kinds = json.loads(layout.processed(ds).joinpath("kinds.json").read_text())["kinds"]
    assert kinds["island"] == "string" and kinds["year"] == "int" and kinds["long_flippers"] == "bool", kinds
    model = Registry.from_settings(settings).load_model(f"models:/{settings.model_name}@champion")
    predictions = pd.read_csv(layout.predictions_file(ds))
    assert (predictions["prediction"].to_numpy() == model.predict(landed[ALL])).all()
    # and: `retrain predict` scores a pyarrow-backed file of the penguins whose sex was not recorded
    # (`sex` is `null[pyarrow]`: no value at all) exactly as the same rows written from NumPy dtypes
    unsexed = frame[frame["sex"].isna()][ALL].to_csv(index=False)
    written = {}
    for backend in ("numpy", "pyarrow"):
        read = pd.read_csv(io.StringIO(unsexed), **({"dtype_backend": backend} if backend == "pyarrow" else {}))
        read.to_parquet(tmp_path / f"unsexed-{backend}.parquet", index=False)
        out = tmp_path / f"scored-{backend}.csv"
        done = CliRunner().invoke(
            app, ["predict", "--input", str(tmp_path / f"unsexed-{backend}.parquet"), "--output", str(out)]
        )
        assert done.exit_code == 0, done.output
        written[backend] = out.read_bytes()
    assert str(pd.read_parquet(tmp_path / "unsexed-pyarrow.parquet")["sex"].dtype) == "null[pyarrow]"
    assert written["pyarrow"] == written["numpy"] and len(pd.read_csv(tmp_path / "scored-numpy.csv")) == 11


def penguin_days_with(source: Path, plan: dict[str, list[str]]) -> None:
    """Like `penguin_days`, but day `ds` holds only the species `plan[ds]` (a class appears or vanishes)."""
    import palmerpenguins

    frame = palmerpenguins.load_penguins().dropna(subset=NUMERIC).sample(frac=1.0, random_state=1)
    used: set[int] = set()
    per_day = 36
    for ds, species in plan.items():
        pool = frame[frame["species"].isin(species) & ~frame.index.isin(used)]
        rows = pool.groupby("species", group_keys=False).head(per_day // len(species)).sample(frac=1.0, random_state=2)
        used.update(rows.index)
        day = source / ds
        day.mkdir(parents=True)
        rows[NUMERIC].to_csv(day / "data.csv", index=False)
        rows[["species"]].rename(columns={"species": "target"}).to_csv(day / "target.csv", index=False)


@pytest.mark.parametrize("metric", ["roc_auc", "f1"])
@pytest.mark.parametrize("change", ["new_class", "class_absent_from_holdout"])
def test_classes_that_appear_or_vanish_end_with_a_recorded_decision(
    runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, metric: str, change: str
) -> None:  # type: ignore[no-untyped-def]
    # given: a champion trained on the first 4 days, then 3 newer days where a class appears (Chinstrap,
    # never seen by the champion) or vanishes (Chinstrap, known to both models, absent from the holdout)
    timeline = days("2026-02-01", 7)
    first, later = (["Adelie", "Gentoo"], SPECIES) if change == "new_class" else (SPECIES, ["Adelie", "Gentoo"])
    penguin_days_with(tmp_path / "source", {ds: first if i < 4 else later for i, ds in enumerate(timeline)})
    monkeypatch.setenv("RETRAIN_SOURCE", str(tmp_path / "source"))
    monkeypatch.setenv("RETRAIN_HOLDOUT_DAYS", "3")
    monkeypatch.setenv("RETRAIN_METRIC", metric)
    monkeypatch.setenv("RETRAIN_METRIC_THRESHOLD", "0.5")
    monkeypatch.setenv("RETRAIN_TASK_RETRIES", "2")  # a deterministic error must still fail at try 1
    for ds in timeline[:4]:
        assert runner.run("generate_data", ds).ok
    assert runner.run("retrain", timeline[3]).ok
    settings = load_settings()
    assert ledger.find(settings.ledger_path, ds=timeline[3])["decision"] == "deploy"
    for ds in timeline[4:]:
        assert runner.run("generate_data", ds).ok

    # when: the next retrain compares the two on the newest days' holdout
    result = runner.run("retrain", timeline[-1])

    # then: the run ends with a recorded decision (no crash, no retry), both scores numbers
    assert result.ok, result.tasks
    entry = ledger.find(settings.ledger_path, ds=timeline[-1])
    assert entry is not None and entry["decision"] in ("deploy", "skip"), entry
    assert entry["champion_score"] is not None and np.isfinite(entry["champion_score"])
    assert entry["challenger_score"] is not None and np.isfinite(entry["challenger_score"])
    if change == "new_class":
        # the champion never predicts the new class: the challenger that knows it scores higher and deploys
        assert entry["challenger_score"] > entry["champion_score"]
        assert entry["decision"] == "deploy"
        # and the new class was reported once, naming the day it first appeared and the class
        news = [e for e in ledger.read(settings.ledger_path) if e["decision"] == "new_class"]
        assert [(e["ds"], e["classes"]) for e in news] == [(timeline[4], ["Chinstrap"])], news
        sent = settings.outbox_path.read_text()
        assert sent.count("NEW CLASS") == 1 and "Chinstrap" in sent
