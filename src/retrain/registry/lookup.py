"""Finding the model `retrain predict` scores with, without MLflow ever entering the scoring process.

Importing MLflow and opening its store adds ~2 s and ~80 MB to the process that does it, and neither
is given back (measured: `retrain predict` of 2,000,000 Parquet rows peaked at 485 MB with MLflow
imported, 405 MB without). So `find_model` asks the model cache first (`registry.cache`: no MLflow
while the store is unchanged); on a miss it starts this module as a child process
(`python -m retrain.registry.lookup REFERENCE`), which inherits the environment, hence the settings,
resolves the reference with `Registry.fetch`, copies the model folder into the cache and prints the
entry as one JSON line. The scoring process imports its own libraries meanwhile, then checks and
loads the copy itself (`registry.verified.load_model_dir`): the child finds bytes, it never decides
whether they are safe to load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.layout import Layout
from retrain.registry.cache import CachedModel, ModelCache
from retrain.registry.refs import CHAMPION, ModelNotFoundError, RegistryError

if TYPE_CHECKING:
    from retrain.settings import Settings

_CHAMPION_FLAG = "--champion"
_FIELDS = ("uri", "version", "sha256", "model_dir")


@dataclass
class ModelLookup:
    """A model being found: answered by the cache, or by a child process still running."""

    reference: str
    cache: ModelCache
    found: CachedModel | None = None
    process: subprocess.Popen[str] | None = None
    secrets: tuple[str, ...] = ()

    @property
    def cached(self) -> bool:
        """Whether the model cache answered (no child process was needed)."""
        return self.process is None

    def result(self) -> CachedModel:
        """The model's local copy, pinned URI, version and recorded SHA-256 (waits for the child).

        Raises:
            ModelNotFoundError: The reference names nothing that exists (the message says what does).
            RegistryError: The lookup failed otherwise; the message is the child's last error line.
        """
        if self.found is not None:
            return self.found
        assert self.process is not None
        out, err = self.process.communicate()
        lines = out.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else {}
        except ValueError:
            answer = {}
        if self.process.returncode == 0 and all(field in answer for field in _FIELDS):
            self.found = CachedModel(answer["uri"], answer["version"], answer["sha256"], Path(answer["model_dir"]))
            return self.found
        from retrain.secrets import mask_url_passwords, redact

        def safe(text: str) -> str:  # an MLflow message can quote a store URL with its password
            return redact(mask_url_passwords(text), self.secrets)

        if "error" in answer:
            raise (ModelNotFoundError if answer.get("missing") else RegistryError)(safe(str(answer["error"])))
        last = next((line for line in reversed(err.strip().splitlines()) if line.strip()), "no output")
        raise RegistryError(f"looking the model up in MLflow failed (exit {self.process.returncode}): {safe(last)}")


def find_model(settings: Settings, model: str | None, *, use_cache: bool = True) -> ModelLookup:
    """Start finding `model` (a model URI or folder), else the champion, for `retrain predict`.

    Returns at once: with the cached copy, or with a child process looking it up in MLflow (always
    when `use_cache` is False: the cached copy failed its checks; the child replaces it).
    """
    from retrain.secrets import secret_values

    reference = model or f"models:/{settings.model_name}@{CHAMPION}"
    cache = ModelCache(Layout(settings.data_dir).model_cache(), settings.mlflow_tracking_uri)
    found = cache.get(reference) if use_cache else None
    if found is not None:
        return ModelLookup(reference, cache, found=found)
    command = [sys.executable, "-m", __name__, reference, *([_CHAMPION_FLAG] if model is None else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return ModelLookup(reference, cache, process=process, secrets=tuple(secret_values(settings)))


def _lookup(reference: str, champion: bool) -> dict[str, object]:
    """The child's work: resolve `reference` with MLflow and copy the model into the cache."""
    from retrain.registry.service import Registry
    from retrain.settings import load_settings

    settings = load_settings()
    registry = Registry.from_settings(settings)
    cache = ModelCache(Layout(settings.data_dir).model_cache(), settings.mlflow_tracking_uri)
    try:
        if champion and registry.champion() is None:
            raise ModelNotFoundError(f"{registry.no_champion_reason()}; or pass --model URI")
        found = registry.fetch(reference, cache)
    except RegistryError as exc:
        return {"error": str(exc), "missing": isinstance(exc, ModelNotFoundError)}
    return {"uri": found.uri, "version": found.version, "sha256": found.sha256, "model_dir": str(found.model_dir)}


def main(argv: list[str]) -> int:
    """`python -m retrain.registry.lookup REFERENCE [--champion]`: one JSON line; exit 2 if refused."""
    answer = _lookup(argv[0], _CHAMPION_FLAG in argv[1:])
    sys.stdout.write(json.dumps(answer) + "\n")
    return 2 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
