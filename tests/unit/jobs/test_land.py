"""The landing job without Airflow: synthetic or the user's folder, bad days quarantined, links never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrain.data.errors import BadDataError
from retrain.jobs.land import LandDay, Landed
from retrain.layout import Layout
from retrain.settings import load_settings

DS = "2025-12-05"
DATA = b"f00,f01\n1,2\n3,4\n5,6\n"
TARGET = b"target\n0\n1\n0\n"
SECRET = b"root:x:0:0:root:/root:/bin/bash\nsecret-line-Zq9\n"


def _job(retrain_env: dict[str, str], source: Path | None) -> LandDay:
    env = {**retrain_env, **({"RETRAIN_SOURCE": str(source)} if source else {})}
    settings = load_settings(env)
    return LandDay(settings, Layout(settings.data_dir))


def _day(source: Path, ds: str = DS, data: bytes | None = DATA, target: bytes | None = TARGET) -> Path:
    day = source / ds
    day.mkdir(parents=True)
    for name, content in (("data.csv", data), ("target.csv", target)):
        if content is not None:
            (day / name).write_bytes(content)
    return day


def test_without_a_source_the_synthetic_day_lands(retrain_env) -> None:
    # given no RETRAIN_SOURCE; when the job runs; then both files are under raw/ and the result says so
    job = _job(retrain_env, None)
    landed = job.run(DS)
    assert isinstance(landed, Landed) and landed.origin == "synthetic"
    assert Path(landed.data) == job.layout.raw_data(DS) and Path(landed.target).is_file()
    assert landed.to_dict() == {
        "ds": DS,
        "origin": "synthetic",
        "data": landed.data,
        "target": landed.target,
        "labelled": [DS],
    }
    assert Landed.from_dict(landed.to_dict()) == landed
    first = Path(landed.data).read_bytes()
    assert Path(job.run(DS).data).read_bytes() == first  # a rerun gives the same bytes


def test_a_source_day_lands_byte_for_byte(retrain_env, tmp_path) -> None:
    _day(tmp_path / "source")
    job = _job(retrain_env, tmp_path / "source")
    landed = job.run(DS)
    assert landed.origin == "source"
    assert Path(landed.data).read_bytes() == DATA and Path(landed.target).read_bytes() == TARGET


def test_a_missing_day_folder_is_not_arrived_and_quarantines_nothing(retrain_env, tmp_path) -> None:
    (tmp_path / "source").mkdir()
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(FileNotFoundError):
        job.run(DS)
    assert not job.layout.quarantine(DS).exists()


def test_a_day_whose_labels_have_not_arrived_lands_its_features_only(retrain_env, tmp_path) -> None:
    _day(tmp_path / "source", target=None)
    job = _job(retrain_env, tmp_path / "source")
    landed = job.run(DS)
    assert landed.target is None and Path(landed.data).read_bytes() == DATA
    assert job.layout.features_landed(DS) and not job.layout.day_landed(DS)
    # the labels arrive: a rerun of the day lands them too
    (tmp_path / "source" / DS / "target.csv").write_bytes(TARGET)
    assert job.run(DS).target == str(job.layout.raw_target(DS))
    assert job.layout.raw_days() == [DS]


def test_a_day_without_features_is_bad_data_and_its_file_is_copied_aside(retrain_env, tmp_path) -> None:
    day = _day(tmp_path / "source", data=None)
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(BadDataError, match=r"no data\.csv or data\.parquet.*quarantined to") as caught:
        job.run(DS)
    quarantine = job.layout.quarantine(DS)
    assert str(quarantine) in str(caught.value)
    assert (quarantine / "target.csv").read_bytes() == TARGET and (day / "target.csv").is_file()
    assert not job.layout.raw(DS).exists()


def test_a_bad_day_is_refused_unchanged_and_copied_to_quarantine(retrain_env, tmp_path) -> None:
    bad = DATA.replace(b"3,4", b"3,x")
    day = _day(tmp_path / "source", data=bad)
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(BadDataError) as caught:
        job.run(DS)
    assert (caught.value.column, caught.value.row) == ("f01", 1)
    assert (job.layout.quarantine(DS) / "data.csv").read_bytes() == bad
    assert "'f01'" in (job.layout.quarantine(DS) / "reason.txt").read_text()
    assert (day / "data.csv").read_bytes() == bad


def test_later_days_must_hold_the_columns_earlier_days_share(retrain_env, tmp_path) -> None:
    _day(tmp_path / "source")
    _day(tmp_path / "source", "2025-12-06", data=b"f01,id\n2,a\n4,b\n6,c\n")
    job = _job(retrain_env, tmp_path / "source")
    job.run(DS)
    assert job.expected_columns("2025-12-06") == ["f00", "f01"]
    with pytest.raises(BadDataError, match=r"missing expected column\(s\) \['f00'\]"):
        job.run("2025-12-06")


@pytest.mark.parametrize("which", ["data.csv", "target.csv"])
def test_a_linked_file_is_refused_unread_and_never_copied(retrain_env, tmp_path, which) -> None:
    # given a day whose file is a symbolic link to a file outside the source folder
    outside = tmp_path / "outside.csv"
    outside.write_bytes(SECRET)
    day = _day(tmp_path / "source", **{which.split(".")[0]: None})
    (day / which).symlink_to(outside)
    job = _job(retrain_env, tmp_path / "source")
    # when / then: bad data, naming the link, quoting nothing of the file it points to
    with pytest.raises(BadDataError, match="symbolic link") as caught:
        job.run(DS)
    assert str(day / which) in str(caught.value)
    assert "0:0:root" not in str(caught.value) and "Zq9" not in str(caught.value)
    assert str(outside) not in str(caught.value)
    quarantine = job.layout.quarantine(DS)
    assert not (quarantine / which).exists()
    assert not any(SECRET in p.read_bytes() for p in quarantine.rglob("*") if p.is_file())
    assert not job.layout.raw(DS).exists()


def test_a_link_to_a_valid_day_elsewhere_is_refused_too(retrain_env, tmp_path) -> None:
    elsewhere = _day(tmp_path / "elsewhere")
    day = _day(tmp_path / "source", data=None)
    (day / "data.csv").symlink_to(elsewhere / "data.csv")
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(BadDataError, match="symbolic link"):
        job.run(DS)
    assert not job.layout.raw(DS).exists()


def test_a_linked_day_folder_is_refused_and_nothing_is_copied(retrain_env, tmp_path) -> None:
    elsewhere = _day(tmp_path / "elsewhere")
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / DS).symlink_to(elsewhere, target_is_directory=True)
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(BadDataError, match="symbolic link"):
        job.run(DS)
    assert sorted(p.name for p in job.layout.quarantine(DS).iterdir()) == ["reason.txt"]
    assert not job.layout.raw(DS).exists()


def test_a_fifo_is_refused_without_blocking(retrain_env, tmp_path) -> None:
    day = _day(tmp_path / "source", data=None)
    os.mkfifo(day / "data.csv")
    job = _job(retrain_env, tmp_path / "source")
    with pytest.raises(BadDataError, match="not a regular file"):
        job.run(DS)
    assert not (job.layout.quarantine(DS) / "data.csv").exists()


def test_a_features_only_day_lands_and_its_labels_land_three_days_later(retrain_env, tmp_path) -> None:
    # given: a source day delivered without its labels
    source = tmp_path / "source"
    day = _day(source, target=None)
    job = _job(retrain_env, source)
    # when: it lands; then its features are in raw/, its labels are awaited (not bad data)
    landed = job.run(DS)
    assert Path(landed.data).read_bytes() == DATA and landed.target is None and landed.labelled == []
    assert job.layout.feature_days() == [DS] and job.layout.labelled_days() == []
    # when: three days later its target.csv appears and that later day lands
    later = "2025-12-08"
    _day(source, later, target=None)
    (day / "target.csv").write_bytes(TARGET)
    landed = job.run(later)
    # then: the earlier day's labels landed with it, and the result lists that day for the labels event
    assert landed.labelled == [DS] and landed.target is None
    assert job.layout.raw_target(DS).read_bytes() == TARGET
    assert job.layout.labelled_days() == [DS]


def test_late_labels_that_do_not_match_the_features_are_quarantined(retrain_env, tmp_path) -> None:
    source = tmp_path / "source"
    day = _day(source, target=None)
    job = _job(retrain_env, source)
    job.run(DS)
    _day(source, "2025-12-06", target=None)
    (day / "target.csv").write_bytes(b"target\n0\n1\n")  # one label short
    with pytest.raises(BadDataError, match="quarantined to"):
        job.run("2025-12-06")
    assert job.layout.features_landed("2025-12-06") and not job.layout.day_landed(DS)
    assert job.layout.quarantine_reason(DS) is not None
    _day(source, "2025-12-07", target=None)
    assert job.run("2025-12-07").labelled == []  # a quarantined day's labels are not retried by later landings


def test_late_labels_of_a_day_fixed_and_landed_again_after_its_quarantine_land(retrain_env, tmp_path) -> None:
    # given a day whose features were refused (quarantined), then fixed and landed again without labels
    source = tmp_path / "source"
    day = _day(source, data=b"f00,f99\n1,2\n3,4\n5,6\n", target=None)  # f99: not the columns to come
    job = _job(retrain_env, source)
    _day(source, "2025-12-04")  # the first day, which defines the columns
    job.run("2025-12-04")
    with pytest.raises(BadDataError, match="quarantined to"):
        job.run(DS)
    (day / "data.csv").write_bytes(DATA)
    job.run(DS)
    assert job.layout.features_landed(DS) and job.layout.quarantine_reason(DS) is not None
    # when its labels arrive and a later day lands, then they land with it (the quarantine is history)
    (day / "target.csv").write_bytes(TARGET)
    _day(source, "2025-12-06", target=None)
    assert job.run("2025-12-06").labelled == [DS]
    assert job.layout.day_landed(DS)


@pytest.mark.parametrize("delay", [0, 3])
def test_the_synthetic_labels_land_after_the_delay(retrain_env, delay) -> None:
    job = _job({**retrain_env, "RETRAIN_LABEL_DELAY_DAYS": str(delay)}, None)
    days = [f"2025-12-0{d}" for d in range(1, 6)]
    landed = [job.run(ds) for ds in days]
    # the labels of day D land with day D + delay; delay 0 is the old behaviour: both files together
    expected = [[d] for d in days] if delay == 0 else [[], [], [], [days[0]], [days[1]]]
    assert [x.labelled for x in landed] == expected
    assert job.layout.labelled_days() == days[: len(days) - delay]
    assert job.layout.feature_days() == days
    # and the late labels are the same bytes as if they had landed at once (a pure function of the day)
    from retrain.data.generate import generate_and_write
    from retrain.layout import Layout

    other = Layout(job.layout.root.parent / "other")
    generate_and_write(job.settings, other, days[0])
    assert job.layout.raw_target(days[0]).read_bytes() == other.raw_target(days[0]).read_bytes()


def test_a_later_day_keeps_earlier_kinds_text_in_a_numeric_column_is_refused(retrain_env, tmp_path) -> None:
    # given a first day of text, booleans, integers and gaps, then a day with text where numbers were
    _day(tmp_path / "source", data=b"city,flag,n\nParis,true,1\n,false,2\nOslo,,3\n")
    _day(tmp_path / "source", "2025-12-06", data=b"city,flag,n\n7,FALSE,4\nRome,true,\nOslo,true,5\n")
    _day(tmp_path / "source", "2025-12-07", data=b"city,flag,n\nRome,true,4\nOslo,false,five\nParis,true,5\n")
    job = _job(retrain_env, tmp_path / "source")
    # when the days land, then the second (a digit as a city, a gap in n) lands and the third is refused
    job.run(DS)
    job.run("2025-12-06")
    assert job.expected_kinds("2025-12-07", ["city", "flag", "n"]) == {"city": "string", "flag": "bool", "n": "float"}
    with pytest.raises(BadDataError) as caught:
        job.run("2025-12-07")
    assert (caught.value.column, caught.value.row) == ("n", 1) and "'five' is not a number" in str(caught.value)


def test_a_day_with_a_text_column_left_empty_does_not_make_it_numeric(retrain_env, tmp_path) -> None:
    # given a day of text, then a day where that column holds no value at all, then text again
    _day(tmp_path / "source", data=b"sex,n\nmale,1\nfemale,2\nmale,3\n")
    _day(tmp_path / "source", "2025-12-06", data=b"sex,n\n,3\n,4\n,5\n")
    _day(tmp_path / "source", "2025-12-07", data=b"sex,n\nfemale,5\nmale,6\nmale,7\n")
    job = _job(retrain_env, tmp_path / "source")
    job.run(DS)
    job.run("2025-12-06")
    # when the third day lands, then its text is text, as the last day holding a value said
    assert job.expected_kinds("2025-12-07", ["sex", "n"]) == {"sex": "string", "n": "int"}
    job.run("2025-12-07")
    assert job.layout.raw_data("2025-12-07").is_file()


def test_a_column_empty_from_the_first_day_takes_whatever_kind_comes(retrain_env, tmp_path) -> None:
    # given a first day whose `note` column is empty, then a day with text in it
    _day(tmp_path / "source", data=b"note,n\n,1\n,2\n,3\n")
    _day(tmp_path / "source", "2025-12-06", data=b"note,n\nlate,3\nearly,4\nlate,5\n")
    job = _job(retrain_env, tmp_path / "source")
    job.run(DS)
    # when the second day lands, then nothing is expected of `note` and its text lands
    assert job.expected_kinds("2025-12-06", ["note", "n"]) == {"n": "int"}
    job.run("2025-12-06")
    assert job.layout.raw_data("2025-12-06").is_file()


def test_a_bad_parquet_day_is_named_as_delivered_not_as_its_staged_copy(retrain_env, tmp_path) -> None:
    import pandas as pd

    # given a first CSV day of numbers, then a Parquet day with a word where numbers were
    source = tmp_path / "source"
    _day(source)
    bad = source / "2025-12-06"
    bad.mkdir()
    pd.DataFrame({"f00": ["1", "two", "3"], "f01": ["4", "5", "6"]}).to_parquet(bad / "data.parquet")
    (bad / "target.csv").write_bytes(TARGET)
    job = _job(retrain_env, source)
    job.run(DS)
    # when it lands, then the error points at the day the source delivered, with its row, never at the
    # converted copy landing staged (gone once the landing ended) nor at that copy's CSV line
    with pytest.raises(BadDataError) as caught:
        job.run("2025-12-06")
    message = str(caught.value)
    assert message.startswith(f"data of {bad} (as landing read it, converted to CSV) [column 'f00', row 1]: ")
    assert ".staging-" not in message and "line " not in message
    assert (caught.value.column, caught.value.row) == ("f00", 1)
    assert (job.layout.quarantine("2025-12-06") / "data.parquet").is_file()


def test_a_new_class_is_reported_once_with_its_day(retrain_env, tmp_path) -> None:
    from retrain.records import ledger

    # given two days of labels 0/1, then a day where a 2 appears, then a day that holds it again
    for ds, target in (("2025-12-05", TARGET), ("2025-12-06", TARGET), ("2025-12-07", b"target\n0\n2\n1\n")):
        _day(tmp_path / "source", ds, target=target)
    _day(tmp_path / "source", "2025-12-08", target=b"target\n2\n1\n0\n")
    job = _job(retrain_env, tmp_path / "source")
    # when every day lands, and the day of the new class lands again (a rerun)
    for ds in ("2025-12-05", "2025-12-06", "2025-12-07", "2025-12-07", "2025-12-08"):
        job.run(ds)
    # then one ledger entry and one alert name the day and the class
    news = [e for e in ledger.read(job.settings.ledger_path) if e["decision"] == "new_class"]
    assert [(e["ds"], e["classes"], e["known_classes"]) for e in news] == [("2025-12-07", ["2"], ["0", "1"])]
    sent = job.settings.outbox_path.read_text()
    assert sent.count("NEW CLASS") == 1 and "2025-12-07" in sent and "'2'" in sent
