"""Two `retrain run` of the same DAG and date on one RETRAIN_HOME (issue 13 item 7): the second used to die
with an IntegrityError traceback (`dag.test()` creates the dag_run row, unique per DAG and logical date;
worse, it first DELETES an existing run of that date, the first one's).

Right: the second exits 2 with one `error:` line saying a run of that DAG and date is in progress,
touches nothing; the first completes normally. A home is built for real in a fresh process (a week
landed, no champion), then two `retrain` commands run as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.homes import DAYS, RETRAIN, build_home, cli_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("race") / "home"
    build_home(home, DAYS)
    return home


def _start(home: Path, ds: str, output: Path, **env: str) -> subprocess.Popen[bytes]:
    with open(output, "wb") as sink:
        return subprocess.Popen(
            [RETRAIN, "run", "retrain", "--date", ds],
            env=cli_env(home, **env),
            cwd=home.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _deploys(home: Path, ds: str) -> list[dict]:
    ledger = home / "ledger.jsonl"
    lines = ledger.read_text().splitlines() if ledger.is_file() else []
    return [e for e in map(json.loads, lines) if e.get("ds") == ds and e.get("decision") == "deploy"]


def _assert_in_progress(code: int, text: str, ds: str) -> None:
    assert code == 2, text[-3000:]
    assert "Traceback" not in text and "IntegrityError" not in text, text[-3000:]
    # `retrain run` shows Airflow's own log lines (parsing the DAGs) before it starts; then ONE error line
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text.rstrip().endswith(errors[0]), text[-3000:]
    assert "already in progress" in errors[0] and "retrain" in errors[0] and ds in errors[0], errors[0]


def test_a_second_run_of_the_same_date_is_refused_while_the_first_runs(home: Path, tmp_path: Path) -> None:
    ds = DAYS[6]
    first_out, second_out = tmp_path / "first.out", tmp_path / "second.out"
    features = home / "data" / "raw" / ds / "data.csv"
    held = features.with_name("data.csv.held")
    features.rename(held)  # the first run waits in `wait_for_data` until the test lands the day again
    first = _start(home, ds, first_out, RETRAIN_WAIT_TIMEOUT="600")
    try:
        # given: the first run is inside its DAG run, waiting for the day's features (however slow the machine)
        deadline = time.monotonic() + 300
        while "waiting for" not in first_out.read_text(errors="replace"):
            assert first.poll() is None, first_out.read_text()[-3000:]
            assert time.monotonic() < deadline, first_out.read_text()[-3000:]
            time.sleep(0.2)
        # when: the same DAG and date is started again
        second = _start(home, ds, second_out)
        second_code = second.wait(timeout=300)
        # then: the second says a run is in progress while the first still holds the date ...
        _assert_in_progress(second_code, second_out.read_text(errors="replace"), ds)
        assert first.poll() is None, first_out.read_text()[-3000:]
        # ... and the first, once the day lands, finishes normally and deploys once
        held.rename(features)
        assert first.wait(timeout=600) == 0, first_out.read_text()[-3000:]
    finally:
        if held.exists():
            held.rename(features)
        if first.poll() is None:
            first.kill()
            first.wait()
    text = first_out.read_text(errors="replace")
    assert "deploy_model" in text and "success" in text
    assert len(_deploys(home, ds)) == 1


def test_two_runs_started_together(home: Path, tmp_path: Path) -> None:
    # given / when: two processes started at the same instant on the same home and date
    ds = DAYS[7]
    outputs = [tmp_path / "a.out", tmp_path / "b.out"]
    processes = [_start(home, ds, out) for out in outputs]
    codes = [p.wait(timeout=600) for p in processes]
    texts = [out.read_text(errors="replace") for out in outputs]
    # then: no traceback; either one ran and the other was refused, or they ran one after the other
    for code, text in zip(codes, texts, strict=True):
        assert "Traceback" not in text and "IntegrityError" not in text, text[-3000:]
        if code != 0:
            _assert_in_progress(code, text, ds)
    assert 0 in codes, texts
    assert len(_deploys(home, ds)) <= 1
