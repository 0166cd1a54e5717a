"""The `champion` alias: read it, move it by compare-and-swap, keep its history, roll it back, pin URIs.

Versions are never overwritten or deleted: a promotion tags the new champion (`promoted_at`,
`promoted_from`, `promote_reason`) and the old one (`retired_by`, `retired_at`), and appends to the
champion history (a JSON list of versions, the registered model's tag `retrain.champion_history`)
that `rollback` walks back through.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from retrain.registry.refs import (
    CHAMPION,
    HISTORY_TAG,
    ModelRef,
    PinnedModel,
    RegistryError,
    StaleChampionError,
    parse_model_uri,
    version_uri,
)
from retrain.registry.store import MlflowStore, not_found, quote, utc_now

_HISTORY_KEEP = 200


class Aliases(MlflowStore):
    """Registered versions and the champion alias of one model."""

    def _ref(self, version: Any) -> ModelRef:
        return ModelRef(
            version=str(version.version),
            uri=version_uri(self.model_name, version.version),
            run_id=version.run_id or None,
            tags=dict(version.tags or {}),
        )

    def get(self, version: str) -> ModelRef:
        """One registered version.

        Raises:
            RegistryError: When the version does not exist.
        """
        try:
            return self._ref(self.client.get_model_version(self.model_name, str(version)))
        except MlflowException as exc:
            if not_found(exc):
                raise RegistryError(f"model {self.model_name!r} has no version {version!r}") from None
            raise

    def champion(self) -> ModelRef | None:
        """The version the `champion` alias points at, or None (no store, model or alias yet)."""
        if not self.store_exists():
            return None
        try:
            version = self.client.get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException as exc:
            message = str(exc).lower()
            if not_found(exc) or ("alias" in message and "not found" in message):
                return None
            raise
        return self._ref(version)

    def _history(self) -> list[str]:
        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if not_found(exc):
                return []
            raise
        try:
            history = json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))
        except ValueError:
            return []
        return [str(v) for v in history] if isinstance(history, list) else []

    def _set_history(self, history: list[str]) -> None:
        self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))

    def _move(self, version: str, current: ModelRef | None, reason: str, history: list[str]) -> None:
        """Point the alias at `version` and tag both ends; the caller holds the lock."""
        client = self.client
        now = utc_now()
        client.set_registered_model_alias(self.model_name, CHAMPION, version)
        client.set_model_version_tag(self.model_name, version, "promoted_at", now)
        client.set_model_version_tag(self.model_name, version, "promoted_from", current.version if current else "")
        client.set_model_version_tag(self.model_name, version, "promote_reason", reason[:5000])
        if current is not None:
            client.set_model_version_tag(self.model_name, current.version, "retired_by", version)
            client.set_model_version_tag(self.model_name, current.version, "retired_at", now)
        self._set_history(history)

    def promote(self, version: str, *, expected_current: str | None, reason: str) -> str | None:
        """Make `version` the champion if the champion is still `expected_current` (compare-and-swap).

        The previous champion is kept and tagged (`retired_by`, `retired_at`); the new one is tagged
        (`promoted_at`, `promoted_from`, `promote_reason`). Nothing is deleted. Promoting the version
        that is already champion changes nothing and returns its recorded predecessor, so a rerun of
        a deploy task that already succeeded is harmless.

        MLflow alias moves are last-writer-wins. The read-check-set runs under the registry lock
        (`registry.locks`): a PostgreSQL advisory lock when the registry is on PostgreSQL or
        `RETRAIN_LOCK_URL` is set, which serialises writers on every host; else a `flock` in
        `artifact_root`, which serialises processes on this host.

        Args:
            version: The version to promote.
            expected_current: The champion version the caller based its decision on (None: no champion).
            reason: Why, recorded on the version.

        Returns:
            The previous champion's version, or None.

        Raises:
            StaleChampionError: When the champion is no longer `expected_current`; nothing changed.
            RegistryError: When `version` does not exist.
        """
        version = str(version)
        expected = None if expected_current is None else str(expected_current)
        with self._lock():
            target = self.get(version)
            current = self.champion()
            if current is not None and current.version == version:
                if "promoted_at" not in target.tags:
                    # A move cut short after the alias (a crash): finish its tags and history now.
                    previous = self.get(expected) if expected is not None and expected != version else None
                    history = self._history()
                    if previous is not None and (not history or history[-1] != previous.version):
                        history.append(previous.version)
                    if not history or history[-1] != version:
                        history.append(version)
                    self._move(version, previous, reason, history)
                    return previous.version if previous else None
                return target.tags.get("promoted_from") or None
            actual = current.version if current else None
            if actual != expected:
                raise StaleChampionError(
                    f"champion of {self.model_name!r} is {actual or 'unset'}, not {expected or 'unset'} as expected: "
                    f"it changed since the decision was made; version {version} was not promoted"
                )
            history = self._history()
            if actual is not None and (not history or history[-1] != actual):
                history.append(actual)
            history.append(version)
            self._move(version, current, reason, history)
            return actual

    def previous_champion(self) -> str | None:
        """The version a rollback would restore: the champion before the current one, or None."""
        current = self.champion()
        if current is None:
            return None
        history = self._history()
        if history and history[-1] == current.version:
            return history[-2] if len(history) >= 2 else None
        # The alias was moved outside retrain (e.g. in the MLflow UI): fall back to the version's own record.
        return current.tags.get("promoted_from") or None

    def deleted_champion(self) -> str | None:
        """The last champion, when its version was deleted from the registry (MLflow drops its alias with
        it); None when there is a champion, or never was one, or the alias alone was removed."""
        if not self.store_exists() or self.champion() is not None:
            return None
        history = self._history()
        if not history:
            return None
        try:
            self.get(history[-1])
        except RegistryError:
            return history[-1]
        return None

    def no_champion_reason(self, gone: str | None = None) -> str:
        """Why there is no champion and what to do: its version was deleted, or none was ever promoted.

        `gone`: `deleted_champion()` when the caller already has it (else it is looked up here).
        """
        gone = gone or self.deleted_champion()
        if gone is None:
            return f"no champion for {self.model_name!r} yet: run the retrain DAG first"
        versions = [v["version"] for v in self.versions()]
        listing = f"registered versions: {', '.join(versions)}" if versions else "no version is registered"
        return (
            f"version {gone}, the last champion of {self.model_name}, was deleted from the registry; "
            f"make another the champion with `retrain promote VERSION` ({listing})"
        )

    def rollback(self, to: str | None = None, reason: str = "manual rollback") -> tuple[str, str]:
        """Move the champion back to `to`, or to the previous champion when `to` is None.

        Rollbacks walk back through the champion history (rolling back twice from 3 after 1→2→3
        lands on 1, not back on 3). The version rolled back from is kept and tagged.

        Returns:
            (from_version, to_version).

        Raises:
            RegistryError: When there is no champion, nothing to roll back to, or `to` does not exist.
        """
        with self._lock():
            current = self.champion()
            if current is None:
                raise RegistryError(f"model {self.model_name!r} has no champion to roll back from")
            target = str(to) if to is not None else self.previous_champion()
            if target is None:
                raise RegistryError(f"champion {current.version} of {self.model_name!r} has no previous champion")
            self.get(target)
            if target == current.version:
                raise RegistryError(f"version {target} is already the champion")
            history = self._history()
            if target in history:
                history = history[: len(history) - history[::-1].index(target)]
            else:
                history.append(target)
            self._move(target, current, f"rollback: {reason}", history)
            self.client.set_model_version_tag(self.model_name, current.version, "rolled_back_at", utc_now())
            return current.version, target

    def versions(self) -> list[dict[str, Any]]:
        """Every version of the model, oldest first: version, uri, run_id, aliases, created_at, tags."""
        if not self.store_exists():
            return []
        found = self.client.search_model_versions(f"name = {quote(self.model_name)}")
        aliases: dict[str, list[str]] = {}
        if found:  # search results do not carry aliases; the registered model does
            for alias, number in (self.client.get_registered_model(self.model_name).aliases or {}).items():
                aliases.setdefault(str(number), []).append(alias)
        rows = []
        for v in sorted(found, key=lambda v: int(v.version)):
            created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(timespec="seconds")
            rows.append(
                {
                    "version": str(v.version),
                    "uri": version_uri(self.model_name, v.version),
                    "run_id": v.run_id or None,
                    "aliases": sorted(aliases.get(str(v.version), [])),
                    "created_at": created,
                    "tags": dict(v.tags or {}),
                }
            )
        return rows

    # -- loading ----------------------------------------------------------------------------------

    def pin(self, uri: str) -> PinnedModel:
        """Resolve `uri` to what it names NOW, once, for a job that loads it again and again.

        `models:/NAME@alias` and `models:/NAME/latest` become `models:/NAME/N`: every batch of a run
        loads version N and writes "N" as `model_version`, whatever is promoted meanwhile. Other URIs
        (`runs:/…`, `models:/m-…`, a model folder) already name fixed bytes and are kept.

        Args:
            uri: A model URI (see `registry.refs`).

        Returns:
            The pinned URI, and the version to write: "N" for this registry's model, else the pinned URI.

        Raises:
            RegistryError: When the URI is malformed, or names a model, version or alias that does not exist.
        """
        parts = parse_model_uri(uri)
        if not parts.in_registry:
            return PinnedModel(uri=uri, version=uri)
        return self._pinned(self._resolve_version(parts))
