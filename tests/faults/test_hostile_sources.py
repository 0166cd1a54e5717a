"""Hostile and unparseable source days, injected for real through the `generate_data` DAG.

Issue 13, items 2 and 13. A user's source folder (`RETRAIN_SOURCE`) may hold links to files anywhere
on the host, or files that are not the expected CSV at all (a system file, UTF-16, Latin-1, NUL bytes,
binary, a field larger than any parser's block). Each must: fail the `generate` task at once (first
try, although retries are allowed), as bad data, with exactly one alert naming the file and quoting
nothing of its content; leave raw/ without the day; and set the day aside in quarantine/{ds}/ with a
reason.txt, where a plain file is COPIED (the user's file stays) and a link is NEVER copied.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import CHAT, TOKEN, digest_tree, environment, runner_for, sent

pytestmark = pytest.mark.integration

MARK = "Zq9-hostile-secret"
SECRET = f"root:x:0:0:root:/root:/bin/bash\nsvc:{MARK}:1001:1001::/home/svc:/bin/sh\n".encode()


@dataclass
class Home:
    root: Path
    source: Path
    template: Path  # a good day (data.csv, target.csv)
    outside: Path  # a folder outside the source: the "system file" and a valid day live there
    runner: Any
    tg: Any

    @property
    def layout(self) -> Any:
        from retrain.layout import Layout
        from retrain.settings import load_settings

        return Layout(load_settings().data_dir)


@pytest.fixture(scope="module")
def home(tmp_path_factory, airflow_home, tg):  # type: ignore[no-untyped-def]
    """Two good days landed (so later days are checked against their columns), and files outside the source."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "source").mkdir()  # RETRAIN_SOURCE must exist when the settings are read
    extra = {"RETRAIN_SOURCE": str(root / "source"), "TG_TOKEN": TOKEN, "TG_CHAT": CHAT, "TG_API_URL": tg.url}
    with environment(root / "home", **extra):
        from retrain.data.generate import generate_and_write
        from retrain.data.load import land_day
        from retrain.layout import Layout
        from retrain.settings import load_settings

        settings = load_settings()
        staging = Layout(root / "staging")
        for ds in ("2025-12-01", "2025-12-02", "2025-12-03"):
            generate_and_write(settings, staging, ds)
        for ds in ("2025-12-01", "2025-12-02"):
            shutil.copytree(staging.raw(ds), root / "source" / ds)
            land_day(root / "source", Layout(settings.data_dir), ds)
        outside = root / "outside"
        shutil.copytree(staging.raw("2025-12-03"), outside / "valid-day")
        (outside / "passwd").write_bytes(SECRET)
        yield Home(root, root / "source", staging.raw("2025-12-03"), outside, runner_for(airflow_home), tg)


def _case_day(cases: list[str], case: str, first: str) -> str:
    return (date.fromisoformat(first) + timedelta(days=cases.index(case))).isoformat()


def _run_refused(home: Home, ds: str) -> str:
    """Run generate_data for `ds`; assert it was refused at once with one alert; that alert."""
    alerts_before = len(sent(home.tg))
    result = home.runner.run("generate_data", ds)
    assert result.tasks["generate"] == "failed", result.tasks
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1, alerts
    assert "dag=generate_data" in alerts[0] and "try=1" in alerts[0], alerts[0]
    assert not home.layout.raw(ds).exists(), "a refused day must not reach raw/"
    return alerts[0]


def _no_secret_anywhere(home: Home, alert: str) -> None:
    assert MARK not in alert and "0:0:root" not in alert, alert
    for path in (home.layout.root / "quarantine").rglob("*"):
        if path.is_file():
            assert MARK.encode() not in path.read_bytes(), f"secret content copied into {path}"


# --- item 2: links -----------------------------------------------------------------------------------

LINKS = {
    # case: (which entry of the day is a link, to what under `outside`)
    "data-links-to-a-system-file": ("data.csv", "passwd"),
    "target-links-to-a-system-file": ("target.csv", "passwd"),
    "data-links-to-a-valid-csv-elsewhere": ("data.csv", "valid-day/data.csv"),
    "day-folder-links-to-a-valid-day-elsewhere": (".", "valid-day"),
    "data-links-to-a-file-inside-the-source": ("data.csv", "../2025-12-01/data.csv"),
}


@pytest.mark.parametrize("case", list(LINKS))
def test_a_linked_source_entry_is_refused_at_once_and_never_copied(home: Home, case: str) -> None:
    # given: a day whose folder, or one of its files, is a symbolic link
    ds = _case_day(list(LINKS), case, "2026-04-01")
    which, target = LINKS[case]
    day = home.source / ds
    if which == ".":
        day.symlink_to(home.outside / target, target_is_directory=True)
        linked = day
    else:
        day.mkdir(parents=True)
        for name in ("data.csv", "target.csv"):
            shutil.copyfile(home.template / name, day / name)
        (day / which).unlink()
        pointee = (day / target) if target.startswith("..") else home.outside / target
        (day / which).symlink_to(pointee)
        linked = day / which
    source_before = digest_tree(home.source)

    # when
    alert = _run_refused(home, ds)

    # then: refused as bad data, naming the link; nothing of what it points to is read, quoted or copied
    assert str(linked) in alert and "symbolic link" in alert, alert
    _no_secret_anywhere(home, alert)
    quarantine = home.layout.quarantine(ds)
    reason = (quarantine / "reason.txt").read_text()
    assert "symbolic link" in reason
    copied = {p.name for p in quarantine.iterdir()} - {"reason.txt"}
    assert which not in copied and (which != "." or not copied), copied
    assert digest_tree(home.source) == source_before  # the user's folder is untouched


# --- item 13: files the diagnosis itself cannot parse ---------------------------------------------------


def _template(home: Home) -> bytes:
    return (home.template / "data.csv").read_bytes()


def _cell(data: bytes, row: int, value: bytes) -> bytes:
    lines = data.split(b"\n")
    fields = lines[row + 1].split(b",")
    fields[2] = value
    lines[row + 1] = b",".join(fields)
    return b"\n".join(lines)


def _drop_last_field(data: bytes, row: int) -> bytes:
    lines = data.split(b"\n")
    lines[row + 1] = lines[row + 1].rsplit(b",", 1)[0]
    return b"\n".join(lines)


UNPARSEABLE = {
    # case: (make data.csv from the good one, fragments the alert names)
    "system-file-copied-in": (lambda d: SECRET, ["data.csv"]),
    "utf-16": (lambda d: d.decode().encode("utf-16"), ["data.csv", "UTF-16"]),
    "utf-16-without-bom": (lambda d: d.decode().encode("utf-16-le"), ["data.csv", "UTF-16"]),
    "latin-1-bytes": (lambda d: _cell(d, 6, b"caf\xe9" + MARK.encode()), ["data.csv", "UTF-8", "row 6 "]),
    "nul-bytes": (lambda d: _cell(d, 8, b"1\x00\x00" + MARK.encode()), ["data.csv", "'f02'", "row 8 "]),
    "binary": (lambda d: bytes(range(256)) * 512 + MARK.encode(), ["data.csv"]),
    "field-of-2-MiB": (lambda d: _cell(d, 4, MARK.encode() * (2 << 16)), ["data.csv", "row 4 "]),
    # a 300 KiB field (past the csv module's 128 KiB limit) that pyarrow reads, then a short row it does
    # not: the diagnosis must walk past the big field to name the short row
    "field-past-the-csv-module-limit": (
        lambda d: _drop_last_field(_cell(d, 3, b"9" * (300 << 10)), 5),
        ["data.csv", "row 5 ", "truncated"],
    ),
    "no-line-breaks-at-all": (lambda d: MARK.encode() * (200 << 10), ["data.csv"]),
    "unclosed-quote": (lambda d: _cell(d, 2, b'"' + MARK.encode()), ["data.csv"]),
}


@pytest.mark.parametrize("case", list(UNPARSEABLE))
def test_a_file_the_diagnosis_cannot_parse_is_still_bad_data(home: Home, case: str) -> None:
    # given: a day whose data.csv is not the expected CSV (or holds something no parser reads)
    ds = _case_day(list(UNPARSEABLE), case, "2026-05-01")
    mutate, fragments = UNPARSEABLE[case]
    bad = mutate(_template(home))
    day = home.source / ds
    day.mkdir(parents=True)
    (day / "data.csv").write_bytes(bad)
    shutil.copyfile(home.template / "target.csv", day / "target.csv")

    # when
    alert = _run_refused(home, ds)

    # then: refused on the first try (bad data, not a crash that is retried), named, quoted nowhere
    for fragment in fragments:
        assert fragment in alert, f"{fragment!r} missing from the alert:\n{alert}"
    assert "Traceback" not in alert
    _no_secret_anywhere_but_quarantine(home, alert)
    quarantine = home.layout.quarantine(ds)
    assert (quarantine / "data.csv").read_bytes() == bad  # a plain file inside the source is copied aside
    assert (day / "data.csv").read_bytes() == bad  # and stays where the user put it
    reason = (quarantine / "reason.txt").read_text()
    assert MARK not in reason and "0:0:root" not in reason, reason


def _no_secret_anywhere_but_quarantine(home: Home, alert: str) -> None:
    """The alert quotes nothing; the copy in quarantine is the user's own file (kept for the post-mortem)."""
    assert MARK not in alert and "0:0:root" not in alert, alert
    assert len(alert) < 4096, "the alert must stay one readable message"
