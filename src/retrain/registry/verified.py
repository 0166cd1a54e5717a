"""Verified model loading from a local model folder: the bytes that were logged, made only of allowed types.

Loading a model is where code from a model file would run, so `load_model_dir` decides everything
from the file's bytes BEFORE anything deserialises it. This module does not import MLflow: the caller
has copied the model folder to a local folder nothing else writes (`Registry.load_model` a temporary
one, `retrain predict` its model cache), so what is checked is what is loaded. Then:

1. the model file is found through the folder's MLmodel (and must be inside the folder);
2. the model file's SHA-256 is compared with the `model_sha256` recorded when retrain logged it
   (`TamperedModelError` on a mismatch); with no record, the model is refused
   (`UnverifiedModelError`) unless the caller allows unverified models
   (`retrain predict --allow-unverified`, `RETRAIN_ALLOW_UNVERIFIED_MODELS`);
3. the file is inspected with `skops.io.get_untrusted_types` (it reads the file's schema, imports and
   constructs nothing) and every reported type must be in `trusted_types.ALLOWED_TYPES`, by exact
   name (`UntrustedModelError` names the refused type);
4. skops loads the file trusting exactly those checked types. The trusted-types list an MLmodel file
   carries is never read: MLflow would pass it to skops, so a crafted model could trust anything.

Pickle and cloudpickle models run arbitrary code on load and are refused unless `allow_pickle`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from retrain.io import sha256_file
from retrain.registry.refs import (
    RegistryError,
    TamperedModelError,
    UntrustedModelError,
    UnverifiedModelError,
)
from retrain.registry.trusted_types import ALLOWED_TYPES

log = logging.getLogger(__name__)

SKOPS_FORMAT = "skops"


def check_types(untrusted: list[str], where: str) -> list[str]:
    """`untrusted` (as skops reports them) if every one is allowed, else refuse naming the others.

    Raises:
        UntrustedModelError: Naming each type that is not in `ALLOWED_TYPES`.
    """
    refused = sorted(t for t in untrusted if t not in ALLOWED_TYPES)
    if refused:
        raise UntrustedModelError(
            f"type(s) retrain does not load: {', '.join(refused)} (in {where}). retrain loads only "
            "scikit-learn classifiers made of an allow-list of types (retrain.registry.trusted_types); "
            "a function or object of any other type could run code when the model is loaded or used"
        )
    return sorted(untrusted)


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops must be told to trust to save and load `model`, all from the allow-list.

    skops refuses to load types it does not know (scikit-learn's `TreePredictor` inside a
    HistGradientBoosting model, for example); those are listed in the model's MLmodel for MLflow.

    Raises:
        UntrustedModelError: When the model holds any other type (e.g. a user-defined transformer).
    """
    import skops.io

    return check_types(skops.io.get_untrusted_types(data=skops.io.dumps(model)), "the model")


def model_file(model_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The serialized model inside an MLflow model folder, and its sklearn flavor config.

    Raises:
        RegistryError: When the folder has no sklearn flavor, or names a model file outside itself.
    """
    import yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise RegistryError(f"{model_dir} is not an MLflow model folder (no MLmodel file)")
    flavor = ((yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}).get("flavors") or {}).get("sklearn")
    if not flavor or not isinstance(flavor.get("pickled_model"), str):
        raise RegistryError(f"{model_dir} is not a scikit-learn MLflow model (no sklearn flavor)")
    path = (model_dir / flavor["pickled_model"]).resolve()
    if not path.is_relative_to(model_dir.resolve()) or not path.is_file():
        raise RegistryError(f"{model_dir}/MLmodel names a model file {flavor['pickled_model']!r} that is not in it")
    return path, flavor


def load_model_dir(
    model_dir: Path, *, uri: str, expected_sha: str | None, allow_unverified: bool, allow_pickle: bool = False
) -> Any:
    """Check and load the MLflow model folder `model_dir` (steps 2-4 of the module docstring).

    Args:
        model_dir: A local copy of the model folder (nothing else may change it meanwhile).
        uri: What the user named, for messages.
        expected_sha: The SHA-256 recorded when the model was logged, or None.
        allow_unverified: Load a model with no recorded SHA-256 (its types are still checked).
        allow_pickle: Also load pickle/cloudpickle models (arbitrary code on load).

    Raises:
        TamperedModelError, UnverifiedModelError, UntrustedModelError: See the module docstring.
    """
    path, flavor = model_file(model_dir)
    if expected_sha is not None:
        actual = sha256_file(path)
        if actual != expected_sha:
            raise TamperedModelError(
                f"model file {path.name} of {uri} has SHA-256 {actual[:16]}…, but {expected_sha[:16]}… was "
                "recorded when it was logged: the artifact was modified; refusing to load it"
            )
    fmt = flavor.get("serialization_format", "pickle")
    if fmt != SKOPS_FORMAT:
        if not allow_pickle:
            raise UntrustedModelError(
                f"{uri} is saved as {fmt}, which runs arbitrary code on load; "
                "retrain loads skops models only (pass allow_pickle=True for a source you trust)"
            )
        _check_verified(uri, expected_sha, allow_unverified)
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(model_dir))
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip, no schema, an unknown node: not a model we can read
        raise UntrustedModelError(f"{uri}: {path.name} is not a readable skops file ({exc})") from None
    trusted = check_types(untrusted, f"{uri} ({path.name})")
    _check_verified(uri, expected_sha, allow_unverified)
    return skops.io.load(path, trusted=trusted)


def _check_verified(uri: str, expected_sha: str | None, allow_unverified: bool) -> None:
    if expected_sha is not None:
        return
    if not allow_unverified:
        raise UnverifiedModelError(
            f"{uri} has no recorded SHA-256 (model_sha256), so it cannot be shown to be a model retrain "
            "logged; refusing to load it. If you trust its source, pass --allow-unverified "
            "(retrain predict) or set RETRAIN_ALLOW_UNVERIFIED_MODELS=true"
        )
    log.warning("no model_sha256 recorded for %s: loading it unverified, as allowed", uri)
