"""Validation at the boundary: every bad file is refused with its name, the column, the row and a fix."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from retrain.data.errors import DataValidationError
from retrain.data.validate import check_trainable, read_features, read_target, validate_day

GOOD = b"f00,f01,f02\n0.1,0.2,0.3\n1.5,-2.5,3.0\n-1,2,3.25\n"


def _write(tmp_path: Path, content: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_good_file_reads_as_float64(tmp_path) -> None:
    frame = read_features(_write(tmp_path, GOOD))
    assert list(frame.columns) == ["f00", "f01", "f02"]
    assert (frame.dtypes == "float64").all()
    assert frame.loc[1, "f01"] == -2.5
    assert len(frame) == 3


def test_windows_line_endings_and_a_bom_are_fine(tmp_path) -> None:
    content = b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n")
    frame = read_features(_write(tmp_path, content), ["f00", "f01", "f02"])
    assert frame.shape == (3, 3)


# (content, fragments the message must contain); each case names the column and row where there is one.
BAD_FILES = {
    "empty": (b"", ["empty (0 bytes)"]),
    "header_only": (b"f00,f01,f02\n", ["no data rows"]),
    "duplicate_header": (b"f00,f01,f01\n1,2,3\n", ["duplicated column name", "'f01'"]),
    "semicolons": (b"f00;f01;f02\n1;2;3\n", ["semicolons", "not comma-separated"]),
    "tabs": (b"f00\tf01\tf02\n1\t2\t3\n", ["tabs", "not comma-separated"]),
    "semicolon_rows": (b"f00,f01,f02\n1,2,3\n1;2;3\n", ["semicolons", "row 1"]),
    "not_utf8": (b"f00,f01,f02\n1,2,3\n4,\xff\xfe,6\n", ["UTF-8", "column 'f01'", "row 1"]),
    "not_utf8_header": (b"f00,f\xe901,f02\n1,2,3\n", ["header line is not valid UTF-8"]),
    "non_numeric": (b"f00,f01,f02\n1,2,3\n4,5,6\n7,8,abc\n", ["'abc'", "column 'f02'", "row 2", "not a number"]),
    "inf": (b"f00,f01,f02\n1,2,3\n4,5,inf\n", ["not finite", "column 'f02'", "row 1"]),
    "text_among_numbers": (b"f00,f01\n1,2\n3,4\n5,yes\n", ["'yes'", "column 'f01'", "row 2", "not a number"]),
    "nul_in_text": (b"f00,f01\n1,a\n2,b\x00c\n", ["NUL byte", "column 'f01'", "row 1"]),
    "not_a_header": (b"root:x:0:0:root:/root:/bin/bash\nz:1\n", ["does not look like a header"]),
    "minus_inf": (b"f00,f01,f02\n1,-inf,3\n", ["not finite", "column 'f01'", "row 0"]),
    "truncated_last_line": (b"f00,f01,f02\n1,2,3\n4,5,6\n7,8", ["truncated", "2 field(s)", "row 2"]),
    "extra_field": (b"f00,f01,f02\n1,2,3,4\n", ["4 field(s)", "row 0"]),
    "unnamed_column": (b"f00,f01,\n1,2,3\n", ["no name"]),
    "blank_header": (b"\n1,2,3\n", ["header line is empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_feature_files_are_refused_with_a_precise_message(tmp_path, case: str) -> None:
    content, fragments = BAD_FILES[case]
    path = _write(tmp_path, content, name=f"{case}.csv")
    with pytest.raises(DataValidationError) as caught:
        read_features(path)
    message = str(caught.value)
    assert f"{case}.csv" in message
    assert "Fix:" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(DataValidationError, match=r"nowhere\.csv.*does not exist"):
        read_features(tmp_path / "nowhere.csv")


def test_the_error_carries_the_location_and_survives_pickling(tmp_path) -> None:
    path = _write(tmp_path, b"f00,f01\n1,2\n3,x\n")
    with pytest.raises(DataValidationError) as caught:
        read_features(path)
    assert (caught.value.path, caught.value.column, caught.value.row) == (path, "f01", 1)
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_the_first_bad_row_is_reported_and_the_rest_counted(tmp_path) -> None:
    # f02 is bad in row 3, f00 in rows 1 and 4: the first bad row wins, whatever its column.
    content = b"f00,f01,f02\n1,2,3\n-inf,2,3\n1,2,3\n1,2,inf\n-inf,2,3\n"
    with pytest.raises(DataValidationError) as caught:
        read_features(_write(tmp_path, content))
    assert caught.value.row == 1
    assert caught.value.column == "f00"
    assert "2 more bad cell(s)" in str(caught.value)
    assert "'f02'" in str(caught.value)


def test_first_non_numeric_value_in_a_long_file_is_found(tmp_path) -> None:
    rows = [f"{i},{i}.5" for i in range(50_000)]
    rows[31_337] = "31337,oops"
    rows[40_000] = "x,1"
    path = _write(tmp_path, ("a,b\n" + "\n".join(rows) + "\n").encode())
    with pytest.raises(DataValidationError) as caught:
        read_features(path)
    assert (caught.value.column, caught.value.row) == ("a", 40_000)  # columns are checked left to right
    assert "'x'" in str(caught.value)


def test_reordered_and_extra_columns_are_normalised(tmp_path) -> None:
    # the extra "id" column holds text: it is dropped without being parsed
    path = _write(tmp_path, b"f02,id,f00,f01\n3,abc,1,2\n6,def,4,5\n")
    frame = read_features(path, ["f00", "f01", "f02"])
    assert list(frame.columns) == ["f00", "f01", "f02"]
    assert frame.to_numpy().tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_mixed_types_and_missing_values_land_typed(tmp_path) -> None:
    # given a day with integers, floats, text, booleans (any case) and missing values in every kind
    path = _write(tmp_path, b"n,x,city,flag,code\n1,0.5,Paris,true,1\n2,,,FALSE,0\n3,2,Oslo,,1\n\n")
    # when it is read without a schema (the first day), then with earlier days' kinds
    first = read_features(path)
    later = read_features(path, kinds={"n": "float", "x": "float", "city": "string", "flag": "bool", "code": "string"})
    # then each column keeps its kind, missing values are NaN, and "1"/"0" stay text where earlier days had text
    assert [str(t) for t in first.dtypes] == ["int64", "float64", "object", "object", "int64"]
    assert first["city"].tolist()[0] == "Paris" and pd.isna(first["city"][1]) and pd.isna(first["x"][1])
    assert first["flag"].tolist()[:2] == [True, False] and all(type(v) is bool for v in first["flag"][:2])
    assert later["code"].tolist() == ["1", "0", "1"] and later["n"].dtype == "float64"


def test_text_in_a_column_earlier_days_hold_as_numbers_is_refused_at_its_row(tmp_path) -> None:
    path = _write(tmp_path, b"f00,f01\nred,2\nblue,3\n")
    with pytest.raises(DataValidationError) as caught:
        read_features(path, kinds={"f00": "int", "f01": "int"})
    assert (caught.value.column, caught.value.row) == ("f00", 0)
    assert "'red' is not a number (earlier days hold int values" in str(caught.value)
    # while a text column accepts numbers (a category spelled with digits) and a bool one other words
    frame = read_features(path, kinds={"f00": "bool", "f01": "string"})
    assert frame["f01"].tolist() == ["2", "3"] and frame["f00"].tolist() == ["red", "blue"]


def test_missing_expected_columns_are_named(tmp_path) -> None:
    path = _write(tmp_path, GOOD)
    with pytest.raises(DataValidationError) as caught:
        read_features(path, ["f00", "f01", "f02", "f03", "f04"])
    message = str(caught.value)
    assert "data.csv" in message
    assert "missing expected column(s) ['f03', 'f04']" in message
    assert "'f00'" in message  # what the header does have


def test_target_reads_integer_labels(tmp_path) -> None:
    labels = read_target(_write(tmp_path, b"target\n0\n1\n1\n", "target.csv"), 3)
    assert labels.tolist() == [0, 1, 1]
    assert labels.dtype == "int64"
    assert labels.name == "target"


BAD_TARGETS = {
    "float_label": (b"target\n0\n1.5\n1\n", ["'1.5'", "column 'target'", "row 1", "integer"]),
    "text_label": (b"target\n0\n1\nyes\n", ["'yes'", "row 2"]),
    "missing_label": (b"target\n0\n\n1\n", ["missing label", "column 'target'", "row 1"]),
    "nan_label": (b"target\nNaN\n0\n1\n", ["missing label", "row 0"]),
    "no_target_column": (b"label\n0\n1\n1\n", ["no 'target' column", "'label'"]),
    "empty": (b"", ["empty (0 bytes)"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TARGETS))
def test_bad_target_files_are_refused(tmp_path, case: str) -> None:
    content, fragments = BAD_TARGETS[case]
    with pytest.raises(DataValidationError) as caught:
        read_target(_write(tmp_path, content, f"{case}.csv"), 3)
    message = str(caught.value)
    assert f"{case}.csv" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_target_length_must_match_the_data(tmp_path) -> None:
    data = _write(tmp_path, GOOD)
    target = _write(tmp_path, b"target\n0\n1\n", "target.csv")
    with pytest.raises(DataValidationError) as caught:
        validate_day(data, target)
    message = str(caught.value)
    assert "target.csv" in message
    assert str(data) in message
    assert "2 label(s)" in message
    assert "3 row(s)" in message


def test_validate_day_returns_both_halves(tmp_path) -> None:
    data = _write(tmp_path, b"f01,f00\n2,1\n4,3\n")
    target = _write(tmp_path, b"target\n1\n0\n", "target.csv")
    X, y = validate_day(data, target, ["f00", "f01"])
    assert X["f00"].tolist() == [1.0, 3.0]
    assert y.tolist() == [1, 0]


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    from retrain.data import validate

    reads: list[Path] = []
    real = validate.read_features

    def counted(path, *args, **kwargs):
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(validate, "read_features", counted)
    monkeypatch.setattr(validate, "_recent", type(validate._recent)())
    return reads


def test_a_day_validated_again_unchanged_is_not_read_again_and_each_caller_gets_its_own_copy(
    tmp_path, monkeypatch
) -> None:
    reads = _count_reads(monkeypatch)
    data, target = _write(tmp_path, GOOD), _write(tmp_path, b"target\n1\n0\n1\n", "target.csv")
    first, labels = validate_day(data, target, ["f00", "f01", "f02"])
    first.loc[0, "f00"], labels.iloc[0] = 99.0, 5  # a caller changing what it got
    again, labels_again = validate_day(data, target, ["f00", "f01", "f02"])
    assert reads == [data]
    assert again["f00"].tolist() == [0.1, 1.5, -1.0] and labels_again.tolist() == [1, 0, 1]
    validate_day(data, target, ["f02", "f00"])  # other columns asked: read
    assert len(reads) == 2


def test_a_day_rewritten_since_is_read_again(tmp_path, monkeypatch) -> None:
    reads = _count_reads(monkeypatch)
    data, target = _write(tmp_path, GOOD), _write(tmp_path, b"target\n1\n0\n1\n", "target.csv")
    validate_day(data, target)
    replacement = _write(tmp_path, GOOD.replace(b"0.1", b"0.7"), "new.csv")
    replacement.replace(data)  # an atomic rewrite, as every writer here does: same size, new file
    X, _ = validate_day(data, target)
    assert len(reads) == 2 and X["f00"].tolist()[0] == 0.7


def test_days_beyond_the_budget_are_not_kept(tmp_path, monkeypatch) -> None:
    from retrain.data import validate

    reads = _count_reads(monkeypatch)
    monkeypatch.setattr(validate, "RECENT_DAYS_CELLS", 15)  # one 3 × 3 day and its labels: 12 cells
    days = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        days.append((_write(folder, GOOD), _write(folder, b"target\n1\n0\n1\n", "target.csv")))
    for data, target in [*days, *days]:
        validate_day(data, target)
    assert reads == [days[0][0], days[1][0], days[0][0], days[1][0]]  # the older day made room each time
    validate_day(*days[1])
    assert len(reads) == 4  # the newest day was kept
    assert len(validate._recent) == 1


def test_check_trainable_accepts_two_classes() -> None:
    check_trainable(pd.Series([0, 1, 0, 1, 1]), "window")


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [([1, 1, 1, 1], "fewer than two classes (1: 4)"), ([0, 0, 0, 1], "[1] have a single row"), ([], "no rows")],
)
def test_check_trainable_refuses_untrainable_labels(labels: list[int], fragment: str) -> None:
    with pytest.raises(DataValidationError) as caught:
        check_trainable(pd.Series(labels, dtype="int64"), "days 2025-12-01..2025-12-14")
    assert "days 2025-12-01..2025-12-14" in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected", "dtype"),
    [
        (b'target\nAdelie\nGentoo\n"Chinstrap"\n', ["Adelie", "Gentoo", "Chinstrap"], "str"),
        (b"target\nyes\nno\nyes\n", ["yes", "no", "yes"], "str"),
        (b"target\ntrue\nFalse\nTRUE\n", [True, False, True], "bool"),
        (b"target\n3\n1\n2\n", [3, 1, 2], "int64"),
    ],
)
def test_target_keeps_the_users_label_values(tmp_path, content: bytes, expected: list, dtype: str) -> None:
    labels = read_target(_write(tmp_path, content, "target.csv"), 3)
    assert labels.tolist() == expected
    assert labels.dtype == dtype


def test_text_labels_with_a_number_among_them_are_refused_at_the_number(tmp_path) -> None:
    with pytest.raises(DataValidationError, match=r"row 1 .*label '2' is a number, while the other labels are text"):
        read_target(_write(tmp_path, b"target\nyes\n2\nno\n", "target.csv"), 3)


def test_integer_labels_with_a_word_or_a_fraction_among_them_are_refused_at_it(tmp_path) -> None:
    with pytest.raises(DataValidationError, match=r"row 2 .*label '1.5' is not an integer"):
        read_target(_write(tmp_path, b"target\n1\n0\n1.5\n", "target.csv"), 3)
    with pytest.raises(DataValidationError, match=r"row 1 .*label 'yes' is not an integer"):
        read_target(_write(tmp_path, b"target\n1\nyes\n0\n", "target.csv"), 3)
