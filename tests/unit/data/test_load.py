"""Landing a user's own days: validated before anything reaches raw/, and rejected days kept aside."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.data.errors import DataValidationError
from retrain.data.load import land_day, quarantine_day
from retrain.layout import Layout

DS = "2025-12-05"
DATA = b"f01,f00,id\n2,1,a\n4,3,b\n6,5,c\n"
TARGET = b"target\n0\n1\n0\n"


def _source(root: Path, data: bytes = DATA, target: bytes = TARGET, ds: str = DS) -> Path:
    day = root / "source" / ds
    day.mkdir(parents=True)
    (day / "data.csv").write_bytes(data)
    (day / "target.csv").write_bytes(target)
    return root / "source"


def test_a_valid_day_is_copied_byte_for_byte(tmp_path) -> None:
    source, layout = _source(tmp_path), Layout(tmp_path / "data")
    data, target = land_day(source, layout, DS, ["f00", "f01"])
    assert (data, target) == (layout.raw_data(DS), layout.raw_target(DS))
    assert data.read_bytes() == DATA
    assert target.read_bytes() == TARGET
    # a rerun gives the same files and leaves no temporary files
    land_day(source, layout, DS, ["f00", "f01"])
    assert data.read_bytes() == DATA
    assert sorted(p.name for p in layout.raw(DS).iterdir()) == ["data.csv", "target.csv"]
    assert layout.raw_days() == [DS]


def test_a_missing_source_day_names_the_folder_and_the_layout(tmp_path) -> None:
    source = _source(tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        land_day(source, Layout(tmp_path / "data"), "2025-12-06")
    assert str(source / "2025-12-06") in str(caught.value)
    assert "YYYY-MM-DD/data.csv" in str(caught.value)


def test_a_missing_source_file_is_named(tmp_path) -> None:
    source = _source(tmp_path)
    (source / DS / "target.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"target\.csv"):
        land_day(source, Layout(tmp_path / "data"), DS)
    assert not (tmp_path / "data" / "raw").exists()


@pytest.mark.parametrize(
    ("data", "target"),
    [
        (b"f00,f01\n1,2\n3,oops\n", b"target\n0\n1\n"),  # bad data
        (b"f00,f01\n1,2\n3,4\n", b"target\n0\n"),  # labels one short
        (b"f00,f01\n1,2\n3,4\n", b"target\n0\n0.5\n"),  # bad label
    ],
)
def test_bad_input_never_reaches_raw(tmp_path, data: bytes, target: bytes) -> None:
    layout = Layout(tmp_path / "data")
    source = _source(tmp_path, data, target)
    with pytest.raises(DataValidationError):
        land_day(source, layout, DS)
    assert not layout.raw(DS).exists()


def test_a_bad_relanding_leaves_the_good_day_in_place(tmp_path) -> None:
    layout = Layout(tmp_path / "data")
    land_day(_source(tmp_path / "good"), layout, DS, ["f00", "f01"])
    bad = _source(tmp_path / "bad", data=DATA.replace(b"2,1,a", b"2,x,a"))
    with pytest.raises(DataValidationError, match="f00"):
        land_day(bad, layout, DS, ["f00", "f01"], kinds={"f00": "int", "f01": "int"})
    assert layout.raw_data(DS).read_bytes() == DATA


def test_missing_expected_columns_are_refused(tmp_path) -> None:
    layout = Layout(tmp_path / "data")
    with pytest.raises(DataValidationError, match=r"\['f02'\]"):
        land_day(_source(tmp_path), layout, DS, ["f00", "f01", "f02"])
    assert not layout.raw(DS).exists()


def test_quarantine_moves_files_and_says_why(tmp_path) -> None:
    source = _source(tmp_path)
    files = [source / DS / "data.csv", source / DS / "target.csv"]
    layout = Layout(tmp_path / "data")
    folder = quarantine_day(layout, DS, "column 'f00' row 3: not a number", files)
    assert folder == layout.quarantine(DS)
    assert (folder / "data.csv").read_bytes() == DATA
    assert (folder / "target.csv").read_bytes() == TARGET
    assert not files[0].exists()
    reason = (folder / "reason.txt").read_text()
    assert "column 'f00' row 3: not a number" in reason
    assert str(files[0]) in reason


def test_quarantine_never_overwrites_an_earlier_attempt(tmp_path) -> None:
    layout = Layout(tmp_path / "data")
    folders = []
    for attempt in range(3):
        day = tmp_path / f"try{attempt}"
        day.mkdir()
        (day / "data.csv").write_text(f"attempt {attempt}\n")
        folders.append(quarantine_day(layout, DS, f"reason {attempt}", [day / "data.csv"]))
    base = layout.quarantine(DS)
    assert folders == [base, base / "attempt-2", base / "attempt-3"]
    for attempt, folder in enumerate(folders):
        assert (folder / "data.csv").read_text() == f"attempt {attempt}\n"
        assert f"reason {attempt}" in (folder / "reason.txt").read_text()


def test_quarantine_keeps_same_named_files_apart(tmp_path) -> None:
    one, two = tmp_path / "a" / "data.csv", tmp_path / "b" / "data.csv"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text(path.parent.name)
    (tmp_path / "reason.txt").write_text("user file")
    folder = quarantine_day(Layout(tmp_path / "data"), DS, "why", [one, two, tmp_path / "reason.txt"])
    assert (folder / "data.csv").read_text() == "a"
    assert (folder / "data-2.csv").read_text() == "b"
    assert (folder / "reason-2.txt").read_text() == "user file"
    assert "why" in (folder / "reason.txt").read_text()


def test_quarantine_never_follows_a_link(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-copy-Zq9\n")
    link = tmp_path / "data.csv"
    link.symlink_to(secret)
    folder = quarantine_day(Layout(tmp_path / "data"), DS, "bad", [link], copy=True)
    assert sorted(p.name for p in folder.iterdir()) == ["reason.txt"]
    assert "symbolic link: not copied" in (folder / "reason.txt").read_text()
    assert "Zq9" not in (folder / "reason.txt").read_text()


def test_labels_that_arrive_later_land_beside_the_features(tmp_path) -> None:
    from retrain.data.load import land_files, land_labels

    source = _source(tmp_path)
    layout = Layout(tmp_path / "data")
    data, labels = land_files(source / DS / "data.csv", None, layout, DS, ["f00", "f01"])
    assert labels is None and data.is_file() and not layout.raw_target(DS).exists()
    assert land_labels(source / DS / "target.csv", layout, DS).read_bytes() == TARGET
    short = tmp_path / "short.csv"
    short.write_bytes(b"target\n0\n1\n")
    with pytest.raises(DataValidationError, match="2 label"):
        land_labels(short, layout, DS)
    assert layout.raw_target(DS).read_bytes() == TARGET  # untouched
