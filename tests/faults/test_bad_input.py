"""Bad input, injected for real: a user's day landed by `generate_data`, a raw day scored by
`batch_predict`, and a file given to `retrain predict`. Plus reruns of done dates, a killed
`batch_predict`, secrets after a full run, and a tampered model artifact, all on one trained home.

Each bad case must: fail at once (first try, although retries are allowed), name the file, the column
and the first bad row, change nothing that existed (raw day, champion, registry, ledger, earlier
predictions), write no partial output, set the day aside in quarantine/{ds}/ with a reason.txt
(a user's source files are copied there, never moved), and send exactly one alert.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.faults.conftest import (
    CHAT,
    TOKEN,
    digest_tree,
    environment,
    registry_state,
    run_killed,
    runner_for,
    sent,
)
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

APPRISE_PASSWORD = "Apprise-pa55-word-Kx7"
PG_PASSWORD = "Pg-pa55-Wq3-secret"
WINDOW = days("2025-12-01", 7)
GOOD_DAY = WINDOW[-1]


@dataclass
class Home:
    root: Path
    source: Path
    template: Path  # a good day (data.csv, target.csv) every case starts from
    runner: Any
    tg: Any
    mp: pytest.MonkeyPatch

    @property
    def layout(self) -> Any:
        from retrain.layout import Layout
        from retrain.settings import load_settings

        return Layout(load_settings().data_dir)


@pytest.fixture(scope="module")
def home(tmp_path_factory, airflow_home, tg):  # type: ignore[no-untyped-def]
    """Seven landed days, a champion trained on them, and the last day scored: the state faults must not touch."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "source").mkdir()  # RETRAIN_SOURCE must exist when the settings are read
    extra = {
        "RETRAIN_SOURCE": str(root / "source"),
        "TG_TOKEN": TOKEN,
        "TG_CHAT": CHAT,
        "TG_API_URL": tg.url,
        "RETRAIN_NOTIFY_URLS": f"json://alice:{APPRISE_PASSWORD}@127.0.0.1:{tg.port}/hook",
        "AIRFLOW_CONN_RETRAIN_WAREHOUSE": f"postgresql://etl:{PG_PASSWORD}@127.0.0.1:5432/warehouse",
    }
    with environment(root / "home", **extra) as mp:
        from retrain.data.generate import generate_and_write
        from retrain.data.load import land_day
        from retrain.layout import Layout
        from retrain.settings import load_settings

        settings = load_settings()
        staging = Layout(root / "staging")
        for ds in [*WINDOW, "2025-12-08"]:
            generate_and_write(settings, staging, ds)
            shutil.copytree(staging.raw(ds), root / "source" / ds)
        for ds in WINDOW[:-1]:
            land_day(root / "source", Layout(settings.data_dir), ds)
        runner = runner_for(airflow_home)
        assert runner.run("generate_data", GOOD_DAY).ok  # the last one through the DAG
        deployed = runner.run("retrain", GOOD_DAY)
        assert deployed.ok, deployed.tasks
        assert runner.run("batch_predict", GOOD_DAY).ok
        yield Home(root, root / "source", staging.raw("2025-12-08"), runner, tg, mp)


def _template(home: Home) -> tuple[pd.DataFrame, bytes, bytes]:
    data = (home.template / "data.csv").read_bytes()
    return pd.read_csv(home.template / "data.csv"), data, (home.template / "target.csv").read_bytes()


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _set_cell(data: bytes, row: int, col: int, value: bytes) -> bytes:
    lines = _lines(data)
    fields = lines[row + 1].split(b",")
    fields[col] = value
    lines[row + 1] = b",".join(fields)
    return b"\n".join(lines)


# (case id, mutate(data, target) -> (data or None to delete, target or None), fragments the error names)
def _drop_column(data: bytes, name: bytes) -> bytes:
    rows = [line.split(b",") for line in _lines(data) if line]
    index = rows[0].index(name)
    return b"\n".join(b",".join(r[:index] + r[index + 1 :]) for r in rows) + b"\n"


BAD_DATA = {
    "empty-file": (lambda d: b"", ["data.csv", "empty"]),
    "header-only": (lambda d: _lines(d)[0] + b"\n", ["data.csv", "no data rows"]),
    "missing-column": (lambda d: _drop_column(d, b"f03"), ["data.csv", "'f03'"]),
    "non-numeric": (lambda d: _set_cell(d, 5, 2, b"abc"), ["data.csv", "'f02'", "row 5 "]),
    "nan": (lambda d: _set_cell(d, 7, 1, b"nan"), ["data.csv", "'f01'", "row 7 "]),
    "infinity": (lambda d: _set_cell(d, 9, 4, b"inf"), ["data.csv", "'f04'", "row 9 "]),
    "duplicated-column-name": (lambda d: d.replace(b"f01,", b"f00,", 1), ["data.csv", "duplicated", "f00"]),
    "header-line-repeated": (
        lambda d: b"\n".join([*_lines(d)[:101], _lines(d)[0], *_lines(d)[101:]]),
        ["data.csv", "'f00'", "row 100 "],
    ),
    "wrong-delimiter": (lambda d: d.replace(b",", b";"), ["data.csv", "not comma-separated"]),
    "not-utf8": (lambda d: _set_cell(d, 3, 5, b"\xff\xfe1"), ["data.csv", "UTF-8", "row 3 "]),
    "truncated-last-line": (lambda d: d.rstrip(b"\n")[:-40], ["data.csv", "truncated", "row 399 "]),
}
BAD_TARGET = {
    "target-length-mismatch": (lambda t: b"\n".join(_lines(t)[:-2]) + b"\n", ["target.csv", "label(s) but"]),
    "single-class-target": (lambda t: b"target\n" + b"0\n" * 400, ["target.csv", "'target'", "single class"]),
}


def _case_day(index: int) -> str:
    return (date(2026, 1, 1) + timedelta(days=index)).isoformat()


def _write_source_day(home: Home, ds: str, data: bytes | None, target: bytes | None) -> Path:
    day = home.source / ds
    day.mkdir(parents=True, exist_ok=True)
    for name, content in (("data.csv", data), ("target.csv", target)):
        if content is None:
            (day / name).unlink(missing_ok=True)
        else:
            (day / name).write_bytes(content)
    return day


# A missing value ("nan") lands (the next model learns with it); only a champion trained on complete
# numbers refuses it, at scoring (BATCH_CASES).
GENERATE_CASES = [
    *[(case, "data", mutate, frags) for case, (mutate, frags) in BAD_DATA.items() if case != "nan"],
    *[(case, "target", mutate, frags) for case, (mutate, frags) in BAD_TARGET.items()],
    # a day without its features (labels alone); a day without labels lands its features (not a fault)
    ("missing-file", "data", lambda d: None, ["data.csv", "has no data.csv"]),
]


@pytest.mark.parametrize(("case", "which", "mutate", "fragments"), GENERATE_CASES, ids=[c[0] for c in GENERATE_CASES])
def test_generate_data_refuses_a_bad_source_day(home: Home, case, which, mutate, fragments) -> None:  # type: ignore[no-untyped-def]
    from retrain.data.load import land_day
    from retrain.settings import load_settings

    # given: the day landed once already, good (so "unchanged" is testable), then the user's files turn bad
    ds = _case_day([c[0] for c in GENERATE_CASES].index(case))
    _, data, target = _template(home)
    _write_source_day(home, ds, data, target)
    land_day(home.source, home.layout, ds)
    raw_before = digest_tree(home.layout.raw(ds))
    day = _write_source_day(
        home, ds, mutate(data) if which == "data" else data, mutate(target) if which == "target" else target
    )
    source_before = digest_tree(day)
    state_before = registry_state()
    ledger_before = load_settings().ledger_path.read_bytes()
    alerts_before = len(sent(home.tg))

    # when
    result = home.runner.run("generate_data", ds)

    # then: failed on the first try, with one alert that names the file, the column and the row
    assert result.tasks["generate"] == "failed", result.tasks
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1, alerts
    assert "dag=generate_data" in alerts[0] and "try=1" in alerts[0], alerts[0]
    for fragment in fragments:
        assert fragment in alerts[0], f"{fragment!r} missing from the alert:\n{alerts[0]}"
    # and: nothing changed, the user's files are still there, a copy is in quarantine with the reason
    assert digest_tree(home.layout.raw(ds)) == raw_before
    assert digest_tree(day) == source_before
    quarantine = home.layout.quarantine(ds)
    reason = (quarantine / "reason.txt").read_text()
    for fragment in fragments:
        assert fragment in reason, reason
    for name, digest in source_before.items():
        assert digest_tree(quarantine)[name] == digest
    assert registry_state() == state_before
    assert load_settings().ledger_path.read_bytes() == ledger_before
    assert not [p for p in home.layout.raw(ds).iterdir() if p.name.startswith(".")], "temporary files left"


def test_a_day_whose_folder_has_not_arrived_is_retried_then_alerted_once(home: Home) -> None:
    # a missing day FOLDER means "not delivered yet": retried (it may still arrive), nothing quarantined
    ds = "2026-02-01"
    alerts_before = len(sent(home.tg))
    result = home.runner.run("generate_data", ds)
    assert result.tasks["generate"] == "failed"
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1 and "try=3" in alerts[0], alerts
    assert not home.layout.raw(ds).exists()
    assert not home.layout.quarantine(ds).exists()


def test_reordered_and_extra_columns_are_accepted_and_scored_correctly(home: Home) -> None:
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: the good day with its columns shuffled and an id column (text) added
    ds = "2026-02-02"
    frame, _, target = _template(home)
    shuffled = frame[list(reversed(frame.columns))].copy()
    shuffled.insert(3, "customer_id", [f"c{i}" for i in range(len(frame))])
    _write_source_day(home, ds, shuffled.to_csv(index=False).encode(), target)

    # when
    landed = home.runner.run("generate_data", ds)
    scored = home.runner.run("batch_predict", ds)

    # then: landed as given, and scored exactly as the canonical frame would be
    assert landed.ok and scored.ok, (landed.tasks, scored.tasks)
    model = Registry.from_settings(load_settings()).load_model(Registry.from_settings(load_settings()).champion())
    predictions = pd.read_csv(home.layout.predictions_file(ds))
    expected = model.predict_proba(frame[list(model.feature_names_in_)])[:, 1]
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected, atol=1e-6)
    assert predictions["row"].tolist() == list(range(len(frame)))


def test_a_day_of_100x_the_usual_rows_is_accepted(home: Home) -> None:
    # decision: size is not bad data; landing validates in one pass and scoring streams in bounded memory
    ds = "2026-02-03"
    frame, _, target = _template(home)
    big = pd.concat([frame] * 100, ignore_index=True)
    labels = pd.read_csv(home.template / "target.csv")
    _write_source_day(
        home, ds, big.to_csv(index=False).encode(), pd.concat([labels] * 100).to_csv(index=False).encode()
    )
    result = home.runner.run("generate_data", ds)
    assert result.ok, result.tasks
    assert len(pd.read_csv(home.layout.raw_data(ds))) == 40_000


BATCH_CASES = list(BAD_DATA.items())


@pytest.mark.parametrize(("case", "spec"), BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_batch_predict_refuses_a_bad_day(home: Home, case, spec) -> None:  # type: ignore[no-untyped-def]
    from retrain.settings import load_settings

    # given: a raw day whose data.csv went bad (written by hand, or corrupted on disk)
    mutate, fragments = spec
    ds = (date(2026, 3, 1) + timedelta(days=[c[0] for c in BATCH_CASES].index(case))).isoformat()
    _, data, target = _template(home)
    home.layout.raw(ds).mkdir(parents=True)
    home.layout.raw_data(ds).write_bytes(mutate(data))
    home.layout.raw_target(ds).write_bytes(target)
    bad = mutate(data)
    state_before = registry_state()
    predictions_before = digest_tree(home.layout.root / "predictions")
    ledger_before = load_settings().ledger_path.read_bytes()
    alerts_before = len(sent(home.tg))

    # when
    result = home.runner.run("batch_predict", ds)

    # then: refused before any batch is scored; one alert on the first try naming file, column, row
    assert result.tasks["list_batches"] == "failed", result.tasks
    assert not any(k.startswith("predict_batch") and v == "success" for k, v in result.tasks.items())
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1, alerts
    assert "dag=batch_predict" in alerts[0] and "try=1" in alerts[0], alerts[0]
    for fragment in fragments:
        assert fragment in alerts[0], f"{fragment!r} missing from the alert:\n{alerts[0]}"
    # and: no output at all for the day, earlier predictions and the registry untouched, the day quarantined
    assert not home.layout.predictions(ds).exists()
    assert digest_tree(home.layout.root / "predictions") == predictions_before
    assert registry_state() == state_before
    assert load_settings().ledger_path.read_bytes() == ledger_before
    quarantine = home.layout.quarantine(ds)
    assert (quarantine / "data.csv").read_bytes() == bad
    assert all(f in (quarantine / "reason.txt").read_text() for f in fragments)
    assert not home.layout.raw_data(ds).exists(), "the bad day must be moved aside, not left in raw/"


def test_batch_predict_with_no_data_waits_then_alerts_once(home: Home) -> None:
    ds = "2026-03-30"
    alerts_before = len(sent(home.tg))
    result = home.runner.run("batch_predict", ds)
    assert result.tasks["wait_for_data"] == "failed"
    assert len(sent(home.tg)[alerts_before:]) == 1
    assert not home.layout.predictions(ds).exists()


CLI_CASES = [(c, m, f) for c, (m, f) in BAD_DATA.items() if c != "header-only"]


@pytest.mark.parametrize(("case", "mutate", "fragments"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_retrain_predict_refuses_a_bad_file(home: Home, tmp_path: Path, case, mutate, fragments) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from retrain.cli import app

    # given: a bad input file and an earlier output that must survive
    _, data, _ = _template(home)
    source = tmp_path / "data.csv"
    source.write_bytes(mutate(data))
    output = tmp_path / "predictions.csv"
    output.write_text("earlier output\n")
    state_before = registry_state()

    # when
    result = CliRunner().invoke(app, ["predict", "--input", str(source), "--output", str(output)])

    # then: exit 1 with a message naming the file, the column and the row; the earlier output untouched
    text = " ".join((result.output + (result.stderr if result.stderr_bytes is not None else "")).split())
    assert result.exit_code == 1, text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment.strip() in text, f"{fragment!r} missing from:\n{text}"
    assert output.read_text() == "earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "predictions.csv"], "no temporary files"
    assert registry_state() == state_before


def test_retrain_predict_missing_and_header_only_files(home: Home, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from retrain.cli import app

    missing = CliRunner().invoke(app, ["predict", "--input", str(tmp_path / "nope.csv"), "--output", "o.csv"])
    unboxed = "".join(c for c in missing.output if not c.isspace() and c != "│")  # rich wraps a long path
    assert missing.exit_code == 2 and "nope.csv" in unboxed
    # decision: an input with a header and no rows scores to a header-only predictions file (the scorer's contract)
    _, data, _ = _template(home)
    (tmp_path / "empty.csv").write_bytes(_lines(data)[0] + b"\n")
    empty = CliRunner().invoke(
        app, ["predict", "--input", str(tmp_path / "empty.csv"), "--output", str(tmp_path / "o.csv")]
    )
    assert empty.exit_code == 0, empty.output
    written = pd.read_csv(tmp_path / "o.csv")
    assert list(written.columns) == ["row", "prediction", "probability", "model_version"] and written.empty


def test_rerunning_done_dates_changes_nothing(home: Home) -> None:
    from retrain.records import ledger
    from retrain.settings import load_settings

    # given: GOOD_DAY was landed, trained on (v1 deployed, one message) and scored in the module setup
    layout, settings = home.layout, load_settings()
    raw, predictions = digest_tree(layout.raw(GOOD_DAY)), layout.predictions_file(GOOD_DAY).read_bytes()
    state, messages = registry_state(), [t for t in sent(home.tg) if "deploy_status=success" in t]

    # when: every DAG runs again for the same date (monitor_drift twice)
    for dag_id in ("generate_data", "retrain", "batch_predict", "monitor_drift", "monitor_drift"):
        result = home.runner.run(dag_id, GOOD_DAY)
        assert result.ok, (dag_id, result.tasks)

    # then: identical files, no new registry version, no second deploy message, one drift record for the day
    assert digest_tree(layout.raw(GOOD_DAY)) == raw
    assert layout.predictions_file(GOOD_DAY).read_bytes() == predictions
    assert registry_state() == state
    assert [t for t in sent(home.tg) if "deploy_status=success" in t] == messages
    entries = ledger.read(settings.ledger_path)
    assert len([e for e in entries if e["ds"] == GOOD_DAY and e["decision"] == "deploy"]) == 1
    assert len([e for e in entries if e["ds"] == GOOD_DAY and e["decision"] == "drift"]) == 1


def test_a_killed_batch_predict_leaves_no_partial_file_and_its_rerun_completes(home: Home) -> None:
    # given: a landed day of 40,000 rows, scored in 4 batches
    ds = "2026-02-04"
    frame, _, _ = _template(home)
    home.layout.raw(ds).mkdir(parents=True)
    pd.concat([frame] * 100, ignore_index=True).to_csv(home.layout.raw_data(ds), index=False)
    home.mp.setenv("RETRAIN_BATCH_ROWS", "10000")
    try:
        # when: the process is SIGKILLed right after the first batch wrote its part file
        run_killed("batch_predict", ds, "retrain.scoring.engine:score_range", "after")
        # then: no predictions.csv (only the parts folder of the dead run)
        assert not home.layout.predictions_file(ds).exists()
        # when: the day is run again
        result = home.runner.run("batch_predict", ds)
    finally:
        home.mp.delenv("RETRAIN_BATCH_ROWS")
    # then: it completes with every row once, in order, and no leftovers
    assert result.ok, result.tasks
    predictions = pd.read_csv(home.layout.predictions_file(ds))
    assert predictions["row"].tolist() == list(range(40_000))
    assert sorted(p.name for p in home.layout.predictions(ds).iterdir()) == ["_meta.json", "predictions.csv"]


def test_secrets_appear_in_no_file_log_or_output(home: Home, airflow_home: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from retrain.cli import app
    from retrain.settings import load_settings

    # given: a full run happened with the secrets set (generate, retrain + deploy + message, batch_predict,
    # failing tasks and their alerts); now one more failing task and the CLI, with their output captured
    ds = "2026-04-01"
    _, data, target = _template(home)
    _write_source_day(home, ds, _set_cell(data, 2, 2, b"oops"), target)
    assert not home.runner.run("generate_data", ds).ok
    cli = [CliRunner().invoke(app, args) for args in (["settings"], ["status", "--json"], ["status"])]
    assert all(r.exit_code == 0 for r in cli), [r.output for r in cli]
    captured = capfd.readouterr()
    outputs = captured.out + captured.err + "".join(r.output for r in cli)

    # then: no secret, in any form, in any file under RETRAIN_HOME or AIRFLOW_HOME, nor in the output
    from urllib.parse import quote

    secrets = [TOKEN, APPRISE_PASSWORD, PG_PASSWORD]
    forms = {form.encode() for s in secrets for form in (s, quote(s, safe=""))}
    leaks = []
    for root in (load_settings().home, airflow_home):
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                leaks += [f"{path}: {form!r}" for form in forms if form in content]
    leaks += [f"output: {form!r}" for form in forms if form in outputs.encode()]
    assert not leaks, "\n".join(leaks)
    assert "alice" in outputs or "***" in outputs  # the settings were printed, masked


def test_a_tampered_model_artifact_is_refused(home: Home) -> None:
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: one byte of the champion's model file changed on disk, in the store and in the model cache
    # (a cached copy that fails its checks is fetched again from the store, which is refused in turn)
    settings = load_settings()
    champion = Registry.from_settings(settings).champion()
    files = [p for p in settings.mlflow_artifact_root.rglob("model.skops")]
    assert files, "no model file found under the artifact root"
    files += list((settings.data_dir / "cache").rglob("model.skops"))
    originals = {p: p.read_bytes() for p in files}
    for path, content in originals.items():
        path.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    alerts_before = len(sent(home.tg))
    predictions = home.layout.predictions_file(GOOD_DAY).read_bytes()
    try:
        # when
        result = home.runner.run("batch_predict", GOOD_DAY)
    finally:
        for path, content in originals.items():
            if path.parent.exists():  # a cached copy that failed its checks was deleted: nothing to restore
                path.write_bytes(content)
    # then: refused at once with a clear error, and one alert
    assert result.tasks["list_batches"] == "failed", result.tasks
    alerts = sent(home.tg)[alerts_before:]
    assert len(alerts) == 1 and "try=1" in alerts[0], alerts
    assert "modified" in alerts[0] and f"models:/{settings.model_name}/{champion.version}" in alerts[0], alerts[0]
    assert home.layout.predictions_file(GOOD_DAY).read_bytes() == predictions
