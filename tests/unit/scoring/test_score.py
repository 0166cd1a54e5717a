"""Streaming scoring: same answers as scikit-learn row for row, bounded memory, clear errors, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from tests.unit.scoring.helpers import FEATURES, N_ROWS
from tests.unit.scoring.helpers import assert_matches as _assert_matches
from tests.unit.scoring.helpers import frame as _frame
from tests.unit.scoring.helpers import leftovers as _leftovers
from tests.unit.scoring.helpers import read as _read
from tests.unit.scoring.helpers import write as _write

from retrain.scoring import backends, pipeline
from retrain.scoring import engine as score
from retrain.scoring.backends import AUTO_ONNX_MIN_ROWS, VERIFY_ROWS
from retrain.scoring.engine import ScoringInputError, count_rows, plan_batches, score_file, score_range

# --- equality with scikit-learn -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lr-binary", "hgb-binary", "lr-multi", "hgb-multi"])
@pytest.mark.parametrize(("in_ext", "out_ext"), [(".csv", ".csv"), (".parquet", ".parquet"), (".csv", ".parquet")])
@pytest.mark.parametrize("batch_rows", [100, 128])  # divides 1,000 rows, and does not
def test_score_file_equals_sklearn_row_for_row(models, tmp_path, kind, in_ext, out_ext, batch_rows):
    # given a file of 1,000 rows and a fitted classifier
    model = models[kind]
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / f"data{in_ext}")
    out = tmp_path / f"predictions{out_ext}"
    # when it is scored in batches with scikit-learn
    stats = score_file(model, source, out, batch_rows=batch_rows, model_version="v7", backend="sklearn")
    # then every row equals predict / predict_proba, in input order
    _assert_matches(model, frame, out)
    assert stats.rows == N_ROWS and stats.backend == "sklearn"
    assert stats.rows_per_s > 0 and stats.peak_rss_mb > 0


@pytest.mark.parametrize("batch_rows", [1, 7, N_ROWS, 10 * N_ROWS])
def test_extreme_batch_sizes(models, tmp_path, batch_rows):
    frame = _frame(N_ROWS if batch_rows > 1 else 50)
    source = _write(frame, tmp_path / "data.csv")
    score_file(
        models["lr-binary"], source, tmp_path / "p.csv", batch_rows=batch_rows, model_version="v7", backend="sklearn"
    )
    _assert_matches(models["lr-binary"], frame, tmp_path / "p.csv")


@pytest.mark.parametrize("cpus", [1, 3])
def test_same_answers_with_one_or_more_worker_threads(models, tmp_path, monkeypatch, cpus):
    # given a machine with 1 or 3 usable CPUs (prediction threads), the output is the same
    monkeypatch.setattr(score, "available_cpus", lambda: cpus)
    frame = _frame(5_000)
    source = _write(frame, tmp_path / "data.parquet")
    for backend in ("sklearn", "onnx"):
        out = tmp_path / f"p-{backend}.csv"
        stats = score_file(models["hgb-multi"], source, out, batch_rows=2_500, model_version="v7", backend=backend)
        assert stats.backend == backend
        _assert_matches(models["hgb-multi"], frame, out, atol=1e-5 if backend == "onnx" else 1e-12)


@pytest.mark.parametrize("whole_group_bytes", [32 << 20, 1], ids=["group-at-a-time", "large-groups-streamed"])
def test_parquet_row_groups_read_whole_or_streamed_give_the_same_rows(models, tmp_path, monkeypatch, whole_group_bytes):
    # given a Parquet file of 256-row groups, read one group at a time or (groups "too large") in slices
    from retrain.scoring import readers

    monkeypatch.setattr(readers, "_WHOLE_GROUP_BYTES", whole_group_bytes)
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.parquet")
    # when a whole file and a range that starts and ends inside row groups are scored
    score_file(models["lr-binary"], source, tmp_path / "all.csv", batch_rows=300, model_version="v7")
    rows = score_range(
        models["lr-binary"], source, 300, 700, tmp_path / "part.csv", model_version="1", columns=FEATURES
    )
    # then every row is there once, in order, with the model's own answers
    _assert_matches(models["lr-binary"], frame, tmp_path / "all.csv")
    part = _read(tmp_path / "part.csv")
    assert rows == 400 and part["row"].tolist() == list(range(300, 700))


def test_reordered_and_extra_columns_are_fine(models, tmp_path):
    # given an input with the features shuffled and extra columns, one of them text with quotes and commas
    frame = _frame(N_ROWS)
    shuffled = frame[FEATURES[::-1]].copy()
    shuffled.insert(2, "note", [f'say "hi", {i}' for i in range(N_ROWS)])
    shuffled["id"] = np.arange(N_ROWS)
    source = _write(shuffled, tmp_path / "data.csv")
    # when scored, then the predictions are those of the model's own column order
    score_file(models["hgb-binary"], source, tmp_path / "p.csv", batch_rows=300, model_version="v7", backend="sklearn")
    _assert_matches(models["hgb-binary"], frame, tmp_path / "p.csv")


def test_progress_is_reported(models, tmp_path):
    source = _write(_frame(N_ROWS), tmp_path / "data.parquet")
    seen: list[tuple[int, int | None]] = []
    score_file(
        models["lr-binary"],
        source,
        tmp_path / "p.csv",
        batch_rows=400,
        model_version="1",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(400, N_ROWS), (800, N_ROWS), (1000, N_ROWS)]


# --- row ranges and merge (the mapped Airflow tasks) ----------------------------------------------


def test_plan_batches_covers_every_row_once():
    assert plan_batches(1_000, 300) == [(0, 300), (300, 600), (600, 900), (900, 1_000)]
    assert plan_batches(600, 300) == [(0, 300), (300, 600)]
    assert plan_batches(0, 300) == [(0, 0)]  # one empty part, so a mapped task list is never empty
    with pytest.raises(ValueError, match="batch_rows"):
        plan_batches(10, 0)


def test_count_rows_agrees_with_the_reader_on_quoted_and_blank_lines(models, tmp_path):
    # given CSVs with a quoted newline and blank lines at the end (they hold no row; landing agrees)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('x0,x1,x2,x3,x4,x5,note\n1,2,3,4,5,6,"a\nb"\n7,8,9,10,11,12,c\n')
    blank = tmp_path / "blank.csv"
    blank.write_text("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n7,8,9,10,11,12\n\n\r\n")
    for source in (quoted, blank):
        # then the row count and the second row's range agree with what the reader sees
        assert count_rows(source) == 2
        part = tmp_path / f"{source.stem}-part.csv"
        assert score_range(models["lr-binary"], source, 1, 2, part, model_version="v7", columns=FEATURES) == 1
        expected = models["lr-binary"].predict_proba(pd.DataFrame([[7, 8, 9, 10, 11, 12]], columns=FEATURES))
        got = _read(part)
        assert got["row"].tolist() == [1]
        assert got["probability"].iloc[0] == pytest.approx(expected[0, 1], abs=1e-12)


def test_a_blank_line_inside_the_file_is_a_row_of_missing_values(models, tmp_path):
    # given a blank line between two rows: a missing row, or nothing? Landing refuses it (it would pair
    # every later row with the wrong label), so scoring refuses it too, naming the row
    blank = tmp_path / "blank.csv"
    blank.write_text("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n\n7,8,9,10,11,12\n")
    assert count_rows(blank) == 3
    with pytest.raises(ScoringInputError, match="missing value") as info:
        score_range(models["lr-binary"], blank, 0, 3, tmp_path / "part.csv", model_version="v7", columns=FEATURES)
    assert (info.value.column, info.value.row) == ("x0", 1)
    assert not (tmp_path / "part.csv").exists()


@pytest.fixture
def small_segments(monkeypatch):
    """Parallel CSV segments for small files too, whatever the model's speed; records the plans."""
    from retrain.scoring import readers

    plans: list[object] = []
    original = readers.csv_segments
    monkeypatch.setattr(readers, "MIN_SEGMENT_BYTES", 1_000)
    monkeypatch.setattr(pipeline, "parse_bound", lambda *args: True)
    monkeypatch.setattr(readers, "csv_segments", lambda *args: plans.append(original(*args)) or plans[-1])
    return plans


@pytest.mark.parametrize("cpus", [2, 3])
def test_parallel_csv_segments_give_the_same_bytes(models, tmp_path, monkeypatch, small_segments, cpus):
    # given a plain CSV (no quotes) scored with one reader per CPU, each on a byte segment
    monkeypatch.setattr(score, "available_cpus", lambda: cpus)
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.csv")
    score_file(models["lr-multi"], source, tmp_path / "split.csv", batch_rows=128, model_version="v7")
    [plan] = small_segments
    assert plan is not None and len(plan) == cpus and plan[1].first_row > 0
    # then the output is byte for byte that of one reader, and nothing else is left in the folder
    monkeypatch.setattr(pipeline, "parse_bound", lambda *args: False)
    score_file(models["lr-multi"], source, tmp_path / "plain.csv", batch_rows=128, model_version="v7")
    assert (tmp_path / "split.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    _assert_matches(models["lr-multi"], frame, tmp_path / "split.csv")
    assert _leftovers(tmp_path) == []


def test_parallel_csv_segments_handle_a_header_line_longer_than_64_kib(models, tmp_path, small_segments):
    # given a CSV whose header line is 100 KiB long (a long extra column name): it is still split
    frame = _frame(N_ROWS)
    wide = frame.assign(**{"id_" + "x" * (100 << 10): 1})
    source = _write(wide, tmp_path / "data.csv")
    score_file(models["lr-binary"], source, tmp_path / "p.csv", batch_rows=128, model_version="v7")
    assert small_segments[-1] is not None and small_segments[-1][1].first_row > 0
    _assert_matches(models["lr-binary"], frame, tmp_path / "p.csv")
    assert _leftovers(tmp_path) == []


def test_parallel_csv_segments_fall_back_on_blank_lines_and_quotes(models, tmp_path, small_segments):
    frame = _frame(N_ROWS)
    text = frame.to_csv(index=False).splitlines(keepends=True)
    # a lone CR ending a row in the first half: the newline count of segment 0 is one too few
    lone_cr = tmp_path / "lone_cr.csv"
    lone_cr.write_text("".join(text[:99] + [text[99].rstrip("\n") + "\r"] + text[100:]), newline="")
    score_file(models["lr-binary"], lone_cr, tmp_path / "p.csv", batch_rows=128, model_version="v7")
    assert small_segments[-1] is not None  # it was split, found out, and scored again with one reader
    _assert_matches(models["lr-binary"], frame, tmp_path / "p.csv")
    # a blank line in the first half: a row of missing values, refused at its exact row (landing agrees)
    blank = tmp_path / "blank.csv"
    blank.write_text("".join(text[:100] + ["\n"] + text[100:]))
    with pytest.raises(ScoringInputError, match="missing value") as info:
        score_file(models["lr-binary"], blank, tmp_path / "b.csv", batch_rows=128, model_version="v7")
    assert info.value.row == 99
    assert not (tmp_path / "b.csv").exists()
    # a quote in the first half: not split at all
    quoted = tmp_path / "quoted.csv"
    first_value, rest = text[1].split(",", 1)
    quoted.write_text("".join([text[0], f'"{first_value}",{rest}', *text[2:]]))
    score_file(models["lr-binary"], quoted, tmp_path / "q.csv", batch_rows=128, model_version="v7")
    assert small_segments[-1] is None
    _assert_matches(models["lr-binary"], frame, tmp_path / "q.csv")
    assert _leftovers(tmp_path) == []


def test_parallel_csv_segments_report_bad_values_exactly(models, tmp_path, small_segments):
    frame = _frame(N_ROWS).astype(object)
    frame.loc[911, "x5"] = "oops"
    source = _write(frame, tmp_path / "data.csv")
    with pytest.raises(ScoringInputError, match="'x5'") as info:
        score_file(models["lr-binary"], source, tmp_path / "p.csv", batch_rows=128, model_version="v7")
    assert info.value.row == 911
    assert _leftovers(tmp_path) == []


# --- bad inputs: a clear error naming the column, and no output file ------------------------------


def test_missing_column_names_it_and_leaves_no_output(models, tmp_path):
    source = _write(_frame(N_ROWS).drop(columns=["x3"]), tmp_path / "data.csv")
    out = tmp_path / "out" / "predictions.csv"
    with pytest.raises(ScoringInputError, match="'x3'") as info:
        score_file(models["lr-binary"], source, out, batch_rows=100, model_version="v7")
    assert info.value.column == "x3"
    assert not out.exists()


@pytest.mark.parametrize("in_ext", [".csv", ".parquet"])
@pytest.mark.parametrize(("bad", "kind"), [("abc", "non-numeric"), ("", "missing"), ("inf", "non-finite")])
def test_bad_value_names_column_and_row_and_keeps_old_output(models, tmp_path, in_ext, bad, kind):
    # given an input whose column x2 holds a bad value at row 737, and yesterday's predictions in place
    frame = _frame(N_ROWS).astype(object)
    frame.loc[737, "x2"] = bad if not (in_ext == ".parquet" and bad == "") else None
    if in_ext == ".parquet":
        frame["x2"] = frame["x2"].astype(str).where(frame["x2"].notna(), None)
    source = _write(frame, tmp_path / f"data{in_ext}")
    out = tmp_path / "predictions.csv"
    out.write_text("old\n")
    # when scored, then the error names the column and the row, and the old file is untouched
    with pytest.raises(ScoringInputError, match=f"'x2' has a {kind} value") as info:
        score_file(models["lr-binary"], source, out, batch_rows=128, model_version="v7")
    assert (info.value.column, info.value.row) == ("x2", 737)
    assert "row 737" in str(info.value)
    assert out.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_bad_value_in_a_range_reports_the_absolute_row(models, tmp_path):
    frame = _frame(N_ROWS).astype(object)
    frame.loc[655, "x4"] = "n/a?"
    source = _write(frame, tmp_path / "data.csv")
    part = tmp_path / "part.csv"
    with pytest.raises(ScoringInputError, match="'x4'") as info:
        score_range(models["lr-binary"], source, 600, 900, part, model_version="v7", columns=FEATURES)
    assert info.value.row == 655
    assert not part.exists()


def test_text_column_in_parquet_is_refused(models, tmp_path):
    frame = _frame(10)
    frame["x1"] = pd.to_datetime("2025-01-01")
    source = _write(frame, tmp_path / "data.parquet")
    with pytest.raises(ScoringInputError, match="'x1' holds timestamp"):
        score_file(models["lr-binary"], source, tmp_path / "p.csv", batch_rows=10, model_version="1")


def test_unknown_extension_is_refused(models, tmp_path):
    with pytest.raises(ScoringInputError, match="extension"):
        score_file(models["lr-binary"], tmp_path / "data.json", tmp_path / "p.csv", batch_rows=10, model_version="1")


# --- compiled backend -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hgb-binary", "hgb-multi"])
def test_onnx_backend_equals_sklearn(models, tmp_path, kind):
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.parquet")
    stats = score_file(models[kind], source, tmp_path / "p.csv", batch_rows=256, model_version="v7", backend="onnx")
    assert stats.backend == "onnx", stats.backend_note
    _assert_matches(models[kind], frame, tmp_path / "p.csv", atol=1e-5)
    auto = score_file(models[kind], source, tmp_path / "a.csv", batch_rows=256, model_version="v7")
    assert N_ROWS < AUTO_ONNX_MIN_ROWS and auto.backend == "sklearn", auto.backend_note  # too few rows: see below


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_auto_compiles_only_when_the_input_has_rows_enough_to_pay_for_it(models, tmp_path, suffix, monkeypatch):
    # Converting and checking costs more than it saves below AUTO_ONNX_MIN_ROWS rows; the same rule
    # with a smaller bound, so the files stay small: one row under it and one row over it
    monkeypatch.setattr("retrain.scoring.engine.AUTO_ONNX_MIN_ROWS", VERIFY_ROWS + 10)
    small = _write(_frame(VERIFY_ROWS + 9), tmp_path / f"small{suffix}")
    large = _write(_frame(VERIFY_ROWS + 11), tmp_path / f"large{suffix}")
    for source, expected in ((small, "sklearn"), (large, "onnx")):
        stats = score_file(models["hgb-binary"], source, tmp_path / "p.csv", batch_rows=256, model_version="1")
        assert stats.backend == expected, (source.name, stats.backend_note)
    forced = score_file(
        models["hgb-binary"], small, tmp_path / "f.csv", batch_rows=256, model_version="1", backend="onnx"
    )
    assert forced.backend == "onnx", forced.backend_note


def test_onnx_for_other_models_is_checked_or_falls_back(models, tmp_path):
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.csv")
    stats = score_file(
        models["lr-multi"], source, tmp_path / "p.csv", batch_rows=256, model_version="v7", backend="onnx"
    )
    assert stats.backend in {"onnx", "sklearn"}
    _assert_matches(models["lr-multi"], frame, tmp_path / "p.csv", atol=1e-5)
    auto = score_file(models["lr-multi"], source, tmp_path / "a.csv", batch_rows=256, model_version="v7")
    assert auto.backend == "sklearn"


def test_onnx_check_failure_falls_back_to_sklearn(models, tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "TOLERANCE", -1.0)  # nothing can pass the check
    frame = _frame(N_ROWS)
    source = _write(frame, tmp_path / "data.csv")
    stats = score_file(
        models["hgb-binary"], source, tmp_path / "p.csv", batch_rows=256, model_version="v7", backend="onnx"
    )
    assert stats.backend == "sklearn"
    assert "fallback" in stats.backend_note and "check failed" in stats.backend_note
    _assert_matches(models["hgb-binary"], frame, tmp_path / "p.csv")


# --- memory: a bound, not a timing ----------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, pickle, sys
    from retrain.scoring.engine import peak_rss_mb, score_file
    model = pickle.load(open(sys.argv[1], "rb"))
    score_file(model, sys.argv[2], sys.argv[3], batch_rows=int(sys.argv[4]), model_version="1", backend="sklearn")
    print(json.dumps({"peak_mb": peak_rss_mb()}))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM (per-process peak RSS) is Linux only")
def test_peak_memory_does_not_grow_with_the_file(models, tmp_path):
    # given the same model and two files, one 10x the other (the larger ~60 MB of CSV)
    import pickle

    model_path = tmp_path / "model.pkl"
    model_path.write_bytes(pickle.dumps(models["lr-binary"]))
    rng = np.random.default_rng(3)
    sizes = {"small": 30_000, "large": 300_000}
    for name, rows in sizes.items():
        table = pa.table(
            {c: rng.standard_normal(rows) for c in FEATURES * 1}
            | {f"extra{i}": rng.standard_normal(rows) for i in range(14)}
        )
        pacsv.write_csv(table, tmp_path / f"{name}.csv")
    # when each is scored in its own process with 5,000-row batches
    peaks = {}
    for name in sizes:
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEMORY_SCRIPT,
                str(model_path),
                str(tmp_path / f"{name}.csv"),
                str(tmp_path / f"{name}-out.csv"),
                "5000",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[name] = json.loads(run.stdout.strip().splitlines()[-1])["peak_mb"]
    # then the 10x file costs no more than 1.3x the memory, and both stay under a fixed bound
    assert count_rows(tmp_path / "large-out.csv") == sizes["large"]
    assert peaks["large"] < 1.3 * peaks["small"], peaks
    assert peaks["large"] < 350, peaks  # imports alone are ~255 MB; reading the large file whole is ~400
