"""Shared by the scoring tests: a feature frame, file writers and readers, and the row-for-row check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

N_ROWS = 1_000
FEATURES = [f"x{i}" for i in range(6)]


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.standard_normal((rows, len(FEATURES))), columns=FEATURES)


def write(frame: pd.DataFrame, path: Path) -> Path:
    """CSV by pandas (plain, unquoted numbers) or Parquet by pyarrow with small row groups."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=256)
    return path


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"model_version": str})
    return pq.read_table(path).to_pandas()


def expected(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    proba = model.predict_proba(frame[FEATURES])
    labels = model.predict(frame[FEATURES])
    if proba.shape[1] == 2:
        return labels, proba[:, 1]
    index = np.searchsorted(model.classes_, labels)
    return labels, proba[np.arange(len(frame)), index]


def assert_matches(model, frame: pd.DataFrame, out: Path, *, atol: float = 1e-12, version: str = "v7") -> None:
    got = read(out)
    labels, probability = expected(model, frame)
    per_class = [f"probability_{c}" for c in model.classes_] if len(model.classes_) > 2 else []
    assert list(got.columns) == ["row", "prediction", "probability", "model_version", *per_class]
    if per_class:  # multiclass: one probability column per class, in the model's class order, summing to 1
        proba = model.predict_proba(frame[FEATURES])
        np.testing.assert_allclose(got[per_class].to_numpy(), proba, rtol=0, atol=atol)
        np.testing.assert_allclose(got[per_class].sum(axis=1).to_numpy(), 1.0, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got["row"].to_numpy(), np.arange(len(frame)))
    np.testing.assert_array_equal(got["prediction"].to_numpy(), labels)
    np.testing.assert_allclose(got["probability"].to_numpy(), probability, rtol=0, atol=atol)
    assert (got["model_version"] == version).all()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
