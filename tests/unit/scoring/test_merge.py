"""Merging scored parts: the same bytes as one pass, Parquet output, refused gaps and mixed model versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.scoring.helpers import FEATURES, N_ROWS
from tests.unit.scoring.helpers import assert_matches as _assert_matches
from tests.unit.scoring.helpers import frame as _frame
from tests.unit.scoring.helpers import read as _read
from tests.unit.scoring.helpers import write as _write

from retrain.scoring import MixedModelsError, ScoredPart, feature_columns, merge_parts, merge_scored
from retrain.scoring.engine import count_rows, plan_batches, score_file, score_range


@pytest.mark.parametrize("in_ext", [".csv", ".parquet"])
@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted-text-column"])
def test_parts_merged_equal_score_file(models, tmp_path, in_ext, quoted):
    # given a file (with a quoted text column containing newlines: the CSV offset shortcut must not be used)
    frame = _frame(N_ROWS)
    data = frame.copy()
    if quoted:
        data["note"] = [f"line {i}\nstill {i}, ok" for i in range(N_ROWS)]
    source = _write(data, tmp_path / f"data{in_ext}")
    model = models["hgb-multi"]
    columns = feature_columns(model)
    # when each planned range is scored into a part and the parts are merged
    assert count_rows(source) == N_ROWS
    parts = []
    for i, (start, stop) in enumerate(plan_batches(count_rows(source), 300)):
        part = tmp_path / "parts" / f"part-{i:05d}.csv"
        assert (
            score_range(model, source, start, stop, part, model_version="v7", columns=columns, backend="sklearn")
            == stop - start
        )
        parts.append(part)
    merged = tmp_path / "predictions.csv"
    assert merge_parts(parts, merged) == N_ROWS
    # then the merged file is byte-identical to one streaming pass over the whole file
    whole = tmp_path / "whole.csv"
    score_file(model, source, whole, batch_rows=128, model_version="v7", backend="sklearn")
    assert merged.read_bytes() == whole.read_bytes()
    _assert_matches(model, frame, merged)


def test_merge_parts_to_parquet_and_refuses_out_of_order(models, tmp_path):
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.csv")
    model = models["lr-binary"]
    parts = []
    for i, (start, stop) in enumerate(plan_batches(N_ROWS, 400)):
        parts.append(tmp_path / f"part-{i}.csv")
        score_range(model, source, start, stop, parts[-1], model_version="v7", columns=feature_columns(model))
    assert merge_parts(parts, tmp_path / "p.parquet") == N_ROWS
    _assert_matches(model, frame, tmp_path / "p.parquet")
    with pytest.raises(ValueError, match="out of order"):
        merge_parts([parts[1], parts[0], parts[2]], tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_empty_input_gives_header_only(models, tmp_path):
    source = _write(_frame(0), tmp_path / "data.csv")
    assert count_rows(source) == 0
    [(start, stop)] = plan_batches(count_rows(source), 100)
    part = tmp_path / "part-0.csv"
    assert score_range(models["lr-binary"], source, start, stop, part, model_version="v7", columns=FEATURES) == 0
    assert merge_parts([part], tmp_path / "p.csv") == 0
    assert _read(tmp_path / "p.csv").columns.tolist() == ["row", "prediction", "probability", "model_version"]


def _parts(models, tmp_path: Path, versions: list[str]) -> list[ScoredPart]:
    source = _write(_frame(N_ROWS), tmp_path / "data.csv")
    model = models["lr-binary"]
    scored = []
    for i, ((start, stop), version) in enumerate(zip(plan_batches(N_ROWS, 400), versions, strict=True)):
        part = tmp_path / f"part-{i}.csv"
        rows = score_range(model, source, start, stop, part, model_version=version, columns=FEATURES)
        scored.append(ScoredPart(part=str(part), start=start, rows=rows, version=version))
    return scored


def test_merge_scored_orders_parts_by_start_and_names_the_version(models, tmp_path):
    # given three parts handed over out of order (mapped tasks finish in any order)
    parts = _parts(models, tmp_path, ["3", "3", "3"])
    # when merging them
    rows, version = merge_scored([parts[2], parts[0], parts[1]], tmp_path / "predictions.csv")
    # then the rows are in input order, scored by the one version
    assert (rows, version) == (N_ROWS, "3")
    assert _read(tmp_path / "predictions.csv")["row"].tolist() == list(range(N_ROWS))


def test_merge_scored_refuses_parts_of_two_model_versions(models, tmp_path):
    parts = _parts(models, tmp_path, ["3", "4", "3"])
    with pytest.raises(MixedModelsError, match=r"different models \['3', '4'\]"):
        merge_scored(parts, tmp_path / "predictions.csv")
    assert not (tmp_path / "predictions.csv").exists()
