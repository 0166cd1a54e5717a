"""A deploy cut short by SIGKILL at each of its steps, then rerun: the champion is always complete and
loadable, the history consistent, and the rerun finishes without a duplicate version or message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import CHAT, TOKEN, environment, registry_state, run_killed, runner_for, sent
from tests.integration.conftest import days

pytestmark = pytest.mark.integration

TIMELINE = days("2025-12-01", 8)
FIRST, SECOND = TIMELINE[6], TIMELINE[7]


@pytest.fixture(scope="module")
def base(tmp_path_factory, airflow_home, tg):  # type: ignore[no-untyped-def]
    """The module's environment and runner; each test builds its own home with `_home_with_weak_champion`."""
    root = tmp_path_factory.mktemp("deploy")
    extra = {"TG_TOKEN": TOKEN, "TG_CHAT": CHAT, "TG_API_URL": tg.url, "RETRAIN_METRIC_THRESHOLD": "0.6"}
    with environment(root / "unused", **extra) as mp:
        yield {"runner": runner_for(airflow_home), "tg": tg, "mp": mp}


def _home_with_weak_champion(base: dict, home: Path) -> None:
    """A fresh home: eight days and a champion v1 that is a constant model (any real challenger beats it).

    A fresh home per test (not a restored copy): MLflow keeps a connection per store URI in this process.
    """
    mp = base["mp"]
    mp.setenv("RETRAIN_HOME", str(home))
    from retrain.data.generate import generate_and_write
    from retrain.layout import Layout
    from retrain.settings import load_settings

    settings = load_settings()
    for ds in TIMELINE:
        generate_and_write(settings, Layout(settings.data_dir), ds)
    with pytest.MonkeyPatch.context() as weak:
        weak.setenv("RETRAIN_ESTIMATOR", "sklearn.dummy.DummyClassifier")
        weak.setenv("RETRAIN_ESTIMATOR_PARAMS", "{}")
        weak.setenv("RETRAIN_METRIC_THRESHOLD", "0.0")
        first = base["runner"].run("retrain", FIRST)
    assert first.ok, first.tasks


KILL_POINTS = [
    ("after-register", "retrain.registry:Registry.register", "after"),
    ("before-alias-move", "mlflow:MlflowClient.set_registered_model_alias", "before"),
    ("after-alias-move", "mlflow:MlflowClient.set_registered_model_alias", "after"),
    ("before-model-card", "retrain.records.card:write_model_ref", "before"),
    ("before-notification", "retrain.notify:send", "before"),
]


@pytest.mark.parametrize(("point", "target", "when"), KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_sigkill_during_a_deploy_then_rerun(base: dict, tmp_path: Path, point: str, target: str, when: str) -> None:
    from retrain.layout import Layout
    from retrain.records import ledger
    from retrain.registry import Registry
    from retrain.settings import load_settings

    # given: champion v1, and a retrain of the next day that will deploy v2
    _home_with_weak_champion(base, tmp_path / "home")
    settings = load_settings()
    registry = Registry.from_settings(settings)
    assert registry.champion().version == "1"
    messages_before = len(sent(base["tg"]))

    # when: the process dies at this step of the deploy
    run_killed("retrain", SECOND, target, when)

    # then: whatever the champion is, it is complete and loadable
    champion = registry.champion()
    assert champion.version in ("1", "2")
    assert registry.load_model(champion) is not None

    # when: the same date is run again in a fresh process (this one)
    rerun = base["runner"].run("retrain", SECOND)

    # then: the deploy is finished once: v2 champion, no duplicate version, a consistent history, one message
    assert rerun.ok, rerun.tasks
    state = registry_state()
    assert state["champion"] == "2"
    assert [v[0] for v in state["versions"]] == ["1", "2"]
    assert state["history"] == ["1", "2"]
    tags = {v[0]: dict(v[2]) for v in state["versions"]}
    assert tags["2"]["promoted_from"] == "1" and tags["1"]["retired_by"] == "2"
    assert registry.load_model(registry.champion()) is not None
    deploys = [e for e in ledger.read(settings.ledger_path) if e["decision"] == "deploy"]
    assert [(e["ds"], e["version"]) for e in deploys] == [(FIRST, "1"), (SECOND, "2")]
    card = Layout(settings.data_dir).models(SECOND)
    assert (card / "model.json").is_file()
    new = [t for t in sent(base["tg"])[messages_before:] if "deploy_status=success" in t]
    assert len(new) == 1 and "version 2" in new[0], new
    assert "previous champion: version 1" in new[0], new[0]
