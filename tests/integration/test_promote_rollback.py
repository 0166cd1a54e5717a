"""Manual promote and rollback: the alias, the history, the notification, and the next batch_predict."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from retrain.cli import app
from retrain.layout import Layout
from retrain.records.status import build_status
from retrain.registry import Registry, StaleChampionError
from retrain.settings import load_settings
from tests.integration.conftest import champion_and_a_spare_version, days

pytestmark = pytest.mark.integration


def versions_scored(layout: Layout, ds: str) -> set[str]:
    return set(pd.read_csv(layout.predictions_file(ds))["model_version"].astype(str))


def test_promote_and_rollback_move_the_champion_and_the_next_scoring(runner, telegram_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given: champion v1, and v2 registered from a skipped challenger
    monkeypatch.setenv("RETRAIN_ROWS_PER_DAY", "600")
    monkeypatch.setenv("TG_TOKEN", "1:t")
    monkeypatch.setenv("TG_CHAT", "5")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    timeline = days("2025-12-01", 9)
    v2 = champion_and_a_spare_version(runner, monkeypatch, timeline)
    settings = load_settings()
    registry = Registry.from_settings(settings)
    layout = Layout(settings.data_dir)
    cli = CliRunner()

    # when: v2 is promoted by hand
    promoted = cli.invoke(app, ["promote", v2, "--reason", "hotfix for segment B"])

    # then: alias, history, message, and the next batch_predict scores with v2
    assert promoted.exit_code == 0, promoted.output
    assert registry.champion().version == v2
    last = build_status(load_settings())["history"][-1]
    assert (last["decision"], last["version"], last["trigger"]) == ("promote", v2, "manual")
    assert "hotfix for segment B" in last["reasons"]
    assert any("promote" in r.json["text"] and f"version {v2}" in r.json["text"] for r in telegram_server.requests)
    assert runner.run("batch_predict", timeline[7]).ok
    assert versions_scored(layout, timeline[7]) == {v2}

    # when: rolled back
    rolled = cli.invoke(app, ["rollback", "--reason", "v2 misbehaves"])

    # then: back to v1 everywhere
    assert rolled.exit_code == 0, rolled.output
    assert registry.champion().version == "1"
    last = build_status(load_settings())["history"][-1]
    assert (last["decision"], last["version"]) == ("rollback", "1")
    assert runner.run("batch_predict", timeline[8]).ok
    assert versions_scored(layout, timeline[8]) == {"1"}

    # and: a deploy compared against a champion that has moved since is refused, nothing changes
    with pytest.raises(StaleChampionError):
        registry.promote(v2, expected_current=v2, reason="stale challenger")
    assert registry.champion().version == "1"
