"""The layering rules that make `make test-unit` true: nothing under src/retrain/ except src/retrain/airflow/
imports Airflow, and no unit test does (Airflow adapter tests live in tests/adapters/)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "retrain"
ADAPTERS = SRC / "airflow"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _is_airflow(name: str) -> bool:
    return name == "airflow" or name.startswith("airflow.")


def _core_modules() -> list[str]:
    modules = []
    for path in sorted(SRC.rglob("*.py")):
        if ADAPTERS in path.parents or path.name == "__main__.py":  # a __main__ runs its program when imported
            continue
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_no_core_module_imports_airflow() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(filter(_is_airflow, _imports(path)))
        for path in SRC.rglob("*.py")
        if ADAPTERS not in path.parents and any(_is_airflow(name) for name in _imports(path))
    }
    assert offenders == {}


def test_importing_every_core_module_does_not_import_airflow() -> None:
    # a fresh interpreter: this session may have imported Airflow already
    code = (
        "import importlib, json, sys\n"
        f"for name in {_core_modules()!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_no_unit_test_imports_airflow_or_its_adapters() -> None:
    def adapter(name: str) -> bool:
        return _is_airflow(name) or name == "retrain.airflow" or name.startswith("retrain.airflow.")

    offenders = {
        str(path.relative_to(REPO)): sorted(filter(adapter, _imports(path)))
        for path in Path(__file__).parent.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
