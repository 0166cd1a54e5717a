"""A plain MLflow client, in a separate process, loads the champion and predicts on raw rows.

The registered model carries the real column types (long, double, string, boolean, optional where
values were missing), so `mlflow.pyfunc.load_model("models:/NAME@champion").predict(raw_df)` works on
a raw CSV or Parquet file read by pandas, with no retrain code, and gives the model's own predictions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from retrain.model.train import build_estimator, fit
from retrain.registry import Registry

PLAIN_CLIENT = """
import sys, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(f"models:/{sys.argv[2]}@champion")
types = {s.name: s.to_dict()["type"] for s in model.metadata.get_input_schema().inputs}
print(";".join(f"{k}={v}" for k, v in types.items()))
read = pd.read_parquet if sys.argv[3].endswith(".parquet") else pd.read_csv
pd.DataFrame({"prediction": model.predict(read(sys.argv[3]))}).to_csv(sys.argv[4], index=False)
"""


def _raw_penguins() -> tuple[pd.DataFrame, pd.Series]:
    import palmerpenguins

    frame = palmerpenguins.load_penguins()
    # a boolean column with gaps, as a real export has them
    frame["long_flippers"] = (frame["flipper_length_mm"] > 200).astype(object).where(frame["flipper_length_mm"].notna())
    return frame.drop(columns="species"), frame["species"]


@pytest.mark.parametrize(
    "estimator", ["sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.ensemble.RandomForestClassifier"]
)
def test_plain_mlflow_reproduces_the_predictions_on_raw_rows(
    estimator: str, store: dict[str, Any], registry: Registry, tmp_path: Path
) -> None:
    # given a champion trained by retrain on raw penguins (strings, booleans, integers, missing values)
    X, y = _raw_penguins()
    model = fit(build_estimator(estimator, {}, seed=0), X, y)
    run = registry.log_challenger(
        model, X.head(50), ds="2026-01-01", params={"estimator": estimator}, metrics={}, tags={}, window=["2026-01-01"]
    )
    registry.promote(registry.register(run, ds="2026-01-01"), expected_current=None, reason="test")
    raw_csv, raw_parquet = tmp_path / "raw.csv", tmp_path / "raw.parquet"
    X.to_csv(raw_csv, index=False)
    X.astype({"long_flippers": "boolean"}).to_parquet(raw_parquet)  # pandas' nullable `boolean`, with <NA>
    assert str(pd.read_parquet(raw_parquet)["long_flippers"].dtype) == "boolean"
    for raw in (raw_csv, raw_parquet):
        # when a plain MLflow client in another process loads models:/NAME@champion and predicts the file
        out = tmp_path / "plain.csv"
        done = subprocess.run(
            [sys.executable, "-c", PLAIN_CLIENT, store["tracking_uri"], registry.model_name, str(raw), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        # then the signature holds the real types (a boolean with gaps is `any`: MLflow's `boolean`
        # cannot hold a missing value) and the predictions are the model's, species names included
        types = dict(item.split("=") for item in done.stdout.strip().splitlines()[-1].split(";"))
        assert types["island"] == "string" and types["year"] == "long"
        assert types["bill_length_mm"] == "double" and types["long_flippers"] == "any"
        got = pd.read_csv(out)["prediction"]
        assert got.tolist() == list(model.predict(X)), raw.name
        assert set(got) == {"Adelie", "Chinstrap", "Gentoo"}
