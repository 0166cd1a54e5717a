"""The champion alias: compare-and-swap promotion, concurrent promotions, rollback through the history, pinning."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from retrain.registry import (
    ModelRef,
    Registry,
    RegistryError,
    StaleChampionError,
)


def test_no_champion(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    assert registry.champion() is None  # model does not exist yet
    new_version(logreg, data[0], "2025-12-01")
    assert registry.champion() is None  # model exists, alias does not
    assert registry.previous_champion() is None
    with pytest.raises(RegistryError, match="no champion"):
        registry.rollback()


def test_promote_compare_and_swap(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    X, _ = data
    v1 = new_version(logreg, X, "2025-12-01")
    v2 = new_version(logreg, X, "2025-12-08")

    # when promoting the first version with no champion expected
    assert registry.promote(v1, expected_current=None, reason="first model") is None
    champion = registry.champion()
    assert isinstance(champion, ModelRef)
    assert (champion.version, champion.uri) == ("1", f"models:/{registry.model_name}/1")
    assert champion.tags["promote_reason"] == "first model"
    assert "promoted_at" in champion.tags

    # a stale expectation is refused and changes nothing
    before = {v["version"]: v["tags"] for v in registry.versions()}
    with pytest.raises(StaleChampionError, match="champion .* is 1, not unset"):
        registry.promote(v2, expected_current=None, reason="late")
    assert registry.champion().version == "1"
    assert {v["version"]: v["tags"] for v in registry.versions()} == before

    # the right expectation moves the alias and keeps the previous champion, tagged
    assert registry.promote(v2, expected_current=v1, reason="better") == "1"
    assert registry.champion().version == "2"
    retired = registry.get("1").tags
    assert retired["retired_by"] == "2"
    assert "retired_at" in retired
    assert [v["aliases"] for v in registry.versions()] == [[], ["champion"]]

    # promoting the current champion again (a rerun) changes nothing
    assert registry.promote(v2, expected_current=v1, reason="rerun") == "1"
    assert registry.get("2").tags["promote_reason"] == "better"

    with pytest.raises(RegistryError, match="no version '9'"):
        registry.promote("9", expected_current=v2, reason="typo")


def test_concurrent_promotions_one_wins(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    # given two versions racing to become the first champion
    X, _ = data
    versions = [new_version(logreg, X, ds) for ds in ("2025-12-01", "2025-12-08")]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def promote(version: str) -> None:
        start.wait()  # both read the champion at the same moment: only the lock can serialise them
        try:
            registry.promote(version, expected_current=None, reason="race")
            outcomes.append("ok")
        except StaleChampionError:
            outcomes.append("stale")

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one wins and the other is told the champion changed
    assert sorted(outcomes) == ["ok", "stale"]
    assert registry.champion().version in versions


def test_rollback_walks_back(registry: Registry, logreg: Any, data: Any, new_version: Any) -> None:
    X, _ = data
    v1, v2, v3 = (new_version(logreg, X, ds) for ds in ("2025-12-01", "2025-12-08", "2025-12-15"))
    registry.promote(v1, expected_current=None, reason="a")
    registry.promote(v2, expected_current=v1, reason="b")
    registry.promote(v3, expected_current=v2, reason="c")
    assert registry.previous_champion() == "2"

    assert registry.rollback(reason="bad model") == ("3", "2")
    assert registry.champion().version == "2"
    assert "rolled_back_at" in registry.get("3").tags
    assert registry.get("3").tags["retired_by"] == "2"
    assert registry.rollback(reason="still bad") == ("2", "1")
    assert registry.previous_champion() is None
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback()
    # an explicit target is allowed, and every version is still there
    assert registry.rollback(to="3", reason="it was fine") == ("1", "3")
    assert [v["version"] for v in registry.versions()] == ["1", "2", "3"]


def test_pin_resolves_aliases_once(registry: Registry, store: Any, logreg: Any, data: Any, new_version: Any) -> None:
    # given champion v1 and a second version
    X, _ = data
    v1, v2 = (new_version(logreg, X, ds) for ds in ("2025-12-01", "2025-12-08"))
    registry.promote(v1, expected_current=None, reason="a")
    name = registry.model_name
    # when an alias URI is pinned, then the alias moves
    pinned = registry.pin(f"models:/{name}@champion")
    registry.promote(v2, expected_current=v1, reason="b")
    # then the pin still names version 1, as a concrete URI and version
    assert (pinned.uri, pinned.version) == (f"models:/{name}/1", "1")
    assert registry.pin(f"models:/{name}@champion").version == "2"
    assert registry.pin(f"models:/{name}/latest").uri == f"models:/{name}/2"
    assert registry.pin(f"models:/{name}/1").version == "1"
    # URIs outside this registry's model are pinned to themselves and written whole
    assert registry.pin("runs:/abc/model").version == "runs:/abc/model"
    other = Registry(store["tracking_uri"], "other-" + name, store["artifact_root"])
    assert other.pin(f"models:/{name}@champion").version == f"models:/{name}/2"
    # an alias or version that does not exist is an error naming it
    with pytest.raises(RegistryError, match="has no alias 'staging'"):
        registry.pin(f"models:/{name}@staging")
    with pytest.raises(RegistryError, match="has no version '9'"):
        registry.pin(f"models:/{name}/9")
