"""Careless operators, for real: `retrain promote` / `rollback` asked the impossible or the already true,
run as a user runs them (a fresh `retrain` process), and deterministic failures inside a `retrain` run
(a configuration that cannot work) that must fail on their first try instead of waiting out retries.

Every refused command: exit 2, one line `error: ...` on stderr saying what to do, no traceback, and the
champion, the registry, the ledger and the outbox unchanged. A no-op (`promote` of the champion) exits
0, says so, and records and announces nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.faults.conftest import CHAT, TOKEN, environment, registry_state, runner_for, sent
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TIMELINE = days("2025-12-01", 7)


def retrain(*args: str) -> subprocess.CompletedProcess[str]:
    """The `retrain` command in a fresh process, with this module's environment."""
    return subprocess.run(
        [str(BIN / "retrain"), *args], env=dict(os.environ), capture_output=True, text=True, timeout=180, check=False
    )


def _log_versions(count: int) -> None:
    """Register `count` small models (v1, v2, ...) directly in the registry: no champion yet."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from retrain.registry import Registry
    from retrain.settings import load_settings

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    registry = Registry.from_settings(load_settings())
    for i in range(count):
        ds = TIMELINE[i]
        run_id = registry.log_challenger(
            LogisticRegression().fit(X, y), X, ds=ds, params={}, metrics={}, tags={}, window=[ds]
        )
        registry.register(run_id, ds=ds)


def _records() -> dict[str, Any]:
    """What a refused or no-op command must leave exactly as it was."""
    from retrain.settings import load_settings

    settings = load_settings()
    read = lambda p: p.read_bytes() if p.is_file() else b""  # noqa: E731
    return {"registry": registry_state(), "ledger": read(settings.ledger_path), "outbox": read(settings.outbox_path)}


@pytest.fixture
def home(tmp_path: Path, tg):  # type: ignore[no-untyped-def]
    """A fresh home with three registered versions and no champion; Telegram goes to the local stand-in."""
    with environment(tmp_path / "home", TG_TOKEN=TOKEN, TG_CHAT=CHAT, TG_API_URL=tg.url):
        _log_versions(3)
        yield tg


def _assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_promote_of_a_version_that_does_not_exist(home) -> None:  # type: ignore[no-untyped-def]
    assert retrain("promote", "1").returncode == 0
    before, messages = _records(), len(sent(home))
    result = retrain("promote", "99")
    _assert_refused(result, "no version '99'", "registered versions: 1, 2, 3")
    assert _records() == before and len(sent(home)) == messages


def test_rollback_with_no_champion_and_with_nothing_before_it(home) -> None:  # type: ignore[no-untyped-def]
    before = _records()
    _assert_refused(retrain("rollback"), "no champion", "retrain promote VERSION")
    assert _records() == before
    assert retrain("promote", "2").returncode == 0
    before = _records()
    _assert_refused(retrain("rollback"), "no previous champion", "--to VERSION")
    _assert_refused(retrain("rollback", "--to", "42"), "no version '42'")
    assert _records() == before


def test_a_deleted_version_is_named_not_a_traceback(home) -> None:  # type: ignore[no-untyped-def]
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: v1 then v2 promoted, then v1 (the rollback target) deleted in the MLflow UI
    assert retrain("promote", "1").returncode == 0
    assert retrain("promote", "2").returncode == 0
    registry = Registry.from_settings(load_settings())
    registry.client.delete_model_version(registry.model_name, "1")
    before = _records()
    # when / then: rollback says the previous champion is gone and how to choose another
    _assert_refused(retrain("rollback"), "no version '1'", "--to VERSION", "registered versions: 2, 3")
    _assert_refused(retrain("promote", "1"), "no version '1'")
    assert _records() == before
    # and: the champion itself deleted leaves no champion, which rollback says
    registry.client.delete_model_version(registry.model_name, "2")
    _assert_refused(retrain("rollback"), "no champion", "registered versions: 3")


def test_promoting_the_champion_records_and_announces_nothing(home) -> None:  # type: ignore[no-untyped-def]
    assert retrain("promote", "1").returncode == 0
    before, messages = _records(), len(sent(home))
    result = retrain("promote", "1")
    assert result.returncode == 0, result.stderr
    assert "already the champion" in result.stdout and "nothing changed" in result.stdout
    assert _records() == before and len(sent(home)) == messages


# --- deterministic failures inside a DAG run fail on try 1 -------------------------------------------

RETRY_DELAY = 60


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("RETRAIN_ESTIMATOR", "sklearn.cluster.KMeans", "RETRAIN_ESTIMATOR"),
        ("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": -5}', "RETRAIN_ESTIMATOR_PARAMS"),
    ],
    ids=["not-a-classifier", "params-rejected-at-fit"],
)
def test_a_configuration_that_cannot_work_fails_at_once(  # type: ignore[no-untyped-def]
    tmp_path: Path, airflow_home, tg, setting: str, value: str, fragment: str
) -> None:
    # given: retries allowed with a long delay, a landed week, and a setting that cannot work
    extra = {
        "TG_TOKEN": TOKEN,
        "TG_CHAT": CHAT,
        "TG_API_URL": tg.url,
        "RETRAIN_RETRY_DELAY": str(RETRY_DELAY),
        setting: value,
    }
    with environment(tmp_path / "home", **extra):
        from retrain.data.generate import generate_and_write
        from retrain.layout import Layout
        from retrain.settings import load_settings

        settings = load_settings()
        for ds in TIMELINE:
            generate_and_write(settings, Layout(settings.data_dir), ds)
        runner = runner_for(airflow_home)  # parsed now: retries 2, delay 60 s
        alerts_before = len(sent(tg))

        # when
        result = runner.run("retrain", TIMELINE[-1])

    # then: train_model failed on its first try, naming the setting, long before any retry could run
    assert result.tasks["train_model"] == "failed", result.tasks
    assert result.tasks["evaluate_model"] == "upstream_failed"
    assert result.seconds < RETRY_DELAY, f"the run waited for a retry ({result.seconds:.0f} s)"
    alerts = sent(tg)[alerts_before:]
    assert len(alerts) == 1, alerts
    assert "train_model" in alerts[0] and "try=1" in alerts[0] and fragment in alerts[0]


# --- a model that is not there: `retrain predict --model` ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "fragments"),
    [
        ("models:/retrain-model/99", ("no version '99'", "registered versions: 1, 2, 3")),
        ("models:/retrain-model@nosuchalias", ("no alias 'nosuchalias'", "aliases: champion")),
        ("/no/such/path", ("/no/such/path", "no model")),
    ],
    ids=["version", "alias", "path"],
)
def test_predict_with_a_model_that_is_not_there(home, tmp_path: Path, model: str, fragments: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    # given: a champion, a scorable file, and a model URI naming nothing
    assert retrain("promote", "1").returncode == 0
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("a,b,c\n0.1,0.2,0.3\n-1,0,1\n", encoding="utf-8")
    before = _records()
    # when
    result = retrain("predict", "--input", str(source), "--output", str(output), "--model", model)
    # then: one line saying what exists or what to do; nothing written, nothing changed
    _assert_refused(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["in.csv"]  # no output, no temp file
    assert _records() == before


def _settle_store() -> None:
    """Age the SQLite store's files, as if its last write were minutes ago: the model cache may answer."""
    from retrain.settings import load_settings

    database = Path(load_settings().mlflow_tracking_uri.removeprefix("sqlite:///"))
    past = time.time() - 600
    for path in database.parent.glob(database.name + "*"):
        os.utime(path, (past, past))


def test_predict_follows_the_champion_through_its_cache(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: v1 is the champion and `retrain predict` has scored with it (its model cache filled)
    assert retrain("promote", "1").returncode == 0
    source = tmp_path / "in.csv"
    source.write_text("a,b,c\n0.1,0.2,0.3\n-1,0,1\n", encoding="utf-8")

    def scored_by() -> set[str]:
        output = tmp_path / "out.csv"
        result = retrain("predict", "--input", str(source), "--output", str(output))
        assert result.returncode == 0, result.stderr
        return set(pd.read_csv(output, dtype=str)["model_version"])

    _settle_store()
    assert scored_by() == {"1"}
    cache = Path(load_settings().data_dir) / "cache" / "models"
    assert len(list(cache.glob("*.json"))) == 2  # the champion alias, and the version it pins, on one copy
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    assert scored_by() == {"1"}  # answered by the cache: the store did not change
    # when: the cached copy is damaged on disk / then it is refused, fetched again, and v1 still scores
    cached_file = next(cache.glob("*/model.skops"))
    cached_file.write_bytes(cached_file.read_bytes() + b"\0")
    output = tmp_path / "refetched.csv"
    refetched = retrain("predict", "--input", str(source), "--output", str(output))
    assert refetched.returncode == 0, refetched.stderr
    assert "failed its checks" in refetched.stderr and "fetching it again" in refetched.stderr
    assert set(pd.read_csv(output, dtype=str)["model_version"]) == {"1"}
    assert scored_by() == {"1"}
    # when: v2 is promoted / then the next predict scores with v2, never the cached v1
    assert retrain("promote", "2").returncode == 0
    _settle_store()
    assert scored_by() == {"2"}
    # when: v2 is deleted in the MLflow UI (the alias goes with it) / then no stale copy answers
    registry = Registry.from_settings(load_settings())
    registry.client.delete_model_version(registry.model_name, "2")
    _settle_store()
    result = retrain("predict", "--input", str(source), "--output", str(tmp_path / "gone.csv"))
    _assert_refused(result, "version 2, the last champion", "was deleted", "retrain promote VERSION")


def test_predict_refuses_a_bad_backend_or_output_before_loading_anything(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert retrain("promote", "1").returncode == 0
    source = tmp_path / "in.csv"
    source.write_text("a,b,c\n0.1,0.2,0.3\n", encoding="utf-8")
    for extra in (["--output", str(tmp_path / "out.csv"), "--backend", "gpu"], ["--output", str(source)]):
        result = retrain("predict", "--input", str(source), *extra)
        # a usage error (exit 2) naming the option, no traceback, nothing written or cached
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert ("--backend" if "gpu" in extra else "--output") in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["in.csv"]
    assert source.read_text(encoding="utf-8") == "a,b,c\n0.1,0.2,0.3\n"


def test_status_when_the_champion_version_was_deleted(home) -> None:  # type: ignore[no-untyped-def]
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: v1 then v2 promoted, then v2 (the champion) deleted in the MLflow UI
    assert retrain("promote", "1").returncode == 0
    assert retrain("promote", "2").returncode == 0
    registry = Registry.from_settings(load_settings())
    registry.client.delete_model_version(registry.model_name, "2")
    before = _records()
    # when
    text, as_json = retrain("status"), retrain("status", "--json")
    # then: no traceback; one clear line says the champion was deleted and what to do; the JSON says null
    for result in (text, as_json):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    champion_lines = [line for line in text.stdout.splitlines() if line.startswith("champion")]
    assert len(champion_lines) == 1, text.stdout
    line = champion_lines[0]
    assert "version 2" in line and "deleted" in line and "retrain promote VERSION" in line, line
    assert "registered versions: 1, 3" in line, line
    data = json.loads(as_json.stdout)
    assert data["champion"] is None and [row["version"] for row in data["history"]] == ["1", "2"]
    assert _records() == before
