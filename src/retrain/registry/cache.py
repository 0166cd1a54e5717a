"""The model cache: what a model reference resolved to, reused while the store is unchanged.

Used by `retrain predict` and by the jobs that load the champion every day (`registry.cached`).

Resolving `models:/NAME@champion` (or any reference) needs MLflow, and importing MLflow and opening its
store costs about 2 s: more than scoring a small file. When the store is a SQLite file (the default),
every change to the registry (an alias moved, a version registered, tagged or deleted, a model
re-created) is a write to that file, so the file's identity, size and modification time, with those of
its `-wal` and `-journal` companions, fingerprint the registry's state. An entry records what one
reference resolved to (the pinned URI, the version, the SHA-256 recorded when the model was logged)
and a copy of the model folder, under the fingerprint taken BEFORE resolving; a lookup whose
fingerprint is the same returns it without importing MLflow, anything else is a miss.

A store changed within `SETTLE_SECONDS` of the fingerprint is never cached: a second write in the same
timestamp tick could leave size and time as they were (git's "racily clean" index entries, handled the
same way). Stores that are not local files (PostgreSQL, a tracking server) are never cached.

The cache saves the lookup, not the checks: the copy is loaded through `registry.verified.load_model_dir`
like any model (its SHA-256 against the one recorded in the entry, the type allow-list), so a model file
damaged or swapped in the cache is refused, and `retrain predict` then fetches it again. An entry that
does not hold together (a folder outside the cache, a version its URI does not name) is a miss. The
entry itself is as trusted as the store beside it: whoever can edit files in RETRAIN_HOME can edit
`mlflow.db` and the artifacts too, so the cache adds no way in that was not there.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from retrain.io import default_file_mode, read_json, write_json
from retrain.registry.refs import RegistryError, parse_model_uri

SETTLE_SECONDS = 2.0
"""A store written less than this long before the fingerprint is not cached (see the module docstring)."""

_SQLITE = "sqlite:///"


@dataclass(frozen=True)
class CachedModel:
    """A model reference resolved to a local copy of the model folder.

    Attributes:
        uri: The pinned URI (`models:/NAME/3`, or the reference itself when it already names fixed bytes).
        version: What predictions write as `model_version` (`PinnedModel.version`).
        sha256: The SHA-256 recorded when the model was logged, or None when none was recorded.
        model_dir: The local model folder (holding MLmodel), for `load_model_dir`.
    """

    uri: str
    version: str
    sha256: str | None
    model_dir: Path
    run_id: str | None = None
    tags: dict[str, str] | None = None
    """The registered version's tags (training window, metric, ...); None when not recorded."""
    columns: tuple[str, ...] | None = None
    """The model's input columns in its order, once a load of this copy has shown them; else None."""


class ModelCache:
    """Local copies of resolved models under `folder`, for one MLflow store (`tracking_uri`).

    Args:
        folder: Where entries live (`Layout.model_cache()`); created on the first write.
        tracking_uri: The store's URI; only `sqlite:///PATH` stores are cached (see the module docstring).
    """

    def __init__(self, folder: Path, tracking_uri: str) -> None:
        self.folder = Path(folder)
        self.tracking_uri = tracking_uri

    @property
    def applies(self) -> bool:
        """Whether this store can be cached at all: a local SQLite file (not PostgreSQL, not a server)."""
        return self.tracking_uri.startswith(_SQLITE)

    def fingerprint(self) -> str | None:
        """The registry's state as its SQLite files show it, or None when it cannot be cached.

        None when the store is not a local SQLite file, does not exist yet, or was written less than
        `SETTLE_SECONDS` ago.
        """
        if not self.applies:
            return None
        database = Path(self.tracking_uri[len(_SQLITE) :])
        parts, newest = [], 0
        for path in (
            database,
            database.with_name(database.name + "-wal"),
            database.with_name(database.name + "-journal"),
        ):
            try:
                stat = path.stat()
            except FileNotFoundError:
                if path == database:
                    return None
                parts.append(f"{path.name}:-")
                continue
            parts.append(
                f"{path.name}:{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"
            )
            newest = max(newest, stat.st_mtime_ns)
        if time.time_ns() - newest < SETTLE_SECONDS * 1e9:
            return None
        return "|".join(parts)

    def get(self, reference: str) -> CachedModel | None:
        """The entry for `reference` if the store is unchanged since it was written, else None."""
        fingerprint = self.fingerprint()
        if fingerprint is None:
            return None
        try:
            entry = read_json(self._entry_file(reference))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
            return None
        if entry.get("tracking_uri") != self.tracking_uri or entry.get("reference") != reference:
            return None  # a hash collision, or a copied entry: never someone else's model
        tags, columns = entry.get("tags"), entry.get("columns")
        try:
            found = CachedModel(
                str(entry["uri"]),
                str(entry["version"]),
                entry.get("sha256"),
                self._copy(entry),
                entry.get("run_id"),
                {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else None,
                tuple(str(c) for c in columns) if isinstance(columns, list) else None,
            )
        except (KeyError, ValueError):
            return None
        return found if _consistent(found) else None

    def forget(self, reference: str) -> None:
        """Drop the entry for `reference` and its copy (which failed the checks): the next lookup asks the store.

        Another entry naming the same copy (an alias and its pinned version) then misses as well.
        """
        entry_file = self._entry_file(reference)
        try:
            entry = read_json(entry_file)
            inside = self._copy(entry).relative_to(self.folder.resolve()) if isinstance(entry, dict) else None
        except (OSError, ValueError):
            inside = None
        entry_file.unlink(missing_ok=True)
        if inside is not None and inside.parts:  # the copy's own folder of this cache, never the cache itself
            shutil.rmtree(self.folder / inside.parts[0], ignore_errors=True)

    def _copy(self, entry: dict[str, object]) -> Path:
        """The entry's model folder, which must be a copy inside the cache holding an MLmodel."""
        model_dir = (self.folder / str(entry.get("folder", ""))).resolve()
        if not model_dir.is_relative_to(self.folder.resolve()) or not (model_dir / "MLmodel").is_file():
            raise ValueError(f"cache entry folder {model_dir} is not a model copy in {self.folder}")
        return model_dir

    def put(
        self,
        reference: str,
        fingerprint: str | None,
        resolved: CachedModel,
        download: Callable[[Path], Path],
    ) -> CachedModel:
        """Download the model into a new folder of the cache and record it for `reference`.

        Args:
            reference: What the user named (the cache key, with the tracking URI).
            fingerprint: `fingerprint()` taken before `resolved` was resolved; with None the entry never
                matches (the copy is still made and returned, and replaced by the next `put`).
            resolved: What the reference resolved to; its `model_dir` is ignored.
            download: Copies the model folder into the given folder and returns the model folder's path
                (`MlflowStore._download`).

        Returns:
            `resolved` with `model_dir` pointing into the cache.
        """
        key = self._key(reference)
        target = self.folder / f"{key}-{uuid.uuid4().hex[:12]}"
        target.mkdir(parents=True)
        try:
            model_dir = download(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        for path in target.rglob("*"):  # MLflow copies its source's modes: give the ones a file written here gets
            if path.is_file():
                path.chmod(default_file_mode())
        cached = replace(resolved, model_dir=model_dir)
        self.record(reference, fingerprint, cached)
        self._remove_old_copies(key, keep=target.name)
        return cached

    def record(self, reference: str, fingerprint: str | None, cached: CachedModel) -> None:
        """Record `cached` (a copy already in this cache) as what `reference` resolves to.

        `fetch` records an alias's pinned version this way too (`models:/NAME/3` beside
        `models:/NAME@champion`), so a job that pins the champion and loads the pin finds both.
        """
        entry = {
            "reference": reference,
            "tracking_uri": self.tracking_uri,
            "fingerprint": fingerprint,
            "uri": cached.uri,
            "version": cached.version,
            "sha256": cached.sha256,
            "run_id": cached.run_id,
            "tags": cached.tags,
            "columns": None if cached.columns is None else list(cached.columns),
            "folder": cached.model_dir.relative_to(self.folder).as_posix(),
        }
        write_json(self._entry_file(reference), entry)

    def record_columns(self, reference: str, columns: list[str]) -> None:
        """Add the model's input columns, learnt by loading the copy, to the entry for `reference`.

        Nothing is recorded when the entry no longer matches the store (it changed since).
        """
        fingerprint = self.fingerprint()
        found = self.get(reference)
        if fingerprint is not None and found is not None:
            self.record(reference, fingerprint, replace(found, columns=tuple(columns)))

    def _key(self, reference: str) -> str:
        return hashlib.sha256(f"{self.tracking_uri}\n{reference}".encode()).hexdigest()[:24]

    def _entry_file(self, reference: str) -> Path:
        return self.folder / f"{self._key(reference)}.json"

    def _remove_old_copies(self, key: str, keep: str, grace_seconds: float = 600.0) -> None:
        """Earlier copies of this key's model, once no `retrain predict` started before can still read them."""
        now = time.time()
        for old in self.folder.glob(f"{key}-*"):
            if old.name != keep and old.is_dir() and now - old.stat().st_mtime > grace_seconds:
                shutil.rmtree(old, ignore_errors=True)


def _consistent(found: CachedModel) -> bool:
    """Whether a registry entry's version is the one its pinned URI names (`models:/NAME/N` → "N" or the URI)."""
    try:
        parts = parse_model_uri(found.uri)
    except (RegistryError, ValueError):
        return False
    return parts.in_registry and parts.version is not None and found.version in (parts.version, found.uri)
