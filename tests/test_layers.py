"""Imports point downwards (docs/architecture.md, the map): training never needs the api, and nothing at the
bottom (models, nets, objectives, metrics, data) imports api, cli or sweep, not even inside a function."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import gankit

SRC = Path(gankit.__file__).parent
BOTTOM = ("models", "nets", "objectives", "metrics", "data")
TOP = {"gankit.api", "gankit.cli", "gankit.sweep", "gankit.cli_train", "gankit.cli_sample", "gankit.cli_eval",
       "gankit.cli_serve", "gankit.sweep_grid", "gankit.sweep_summary"}
# Modules split out of a larger one, which re-exports their names: each piece sits below the module it came
# from, so it never imports it (nor does a piece of the config import the whole config).
PIECES = {
    "gankit.config": ["config_schema.py", "config_validate.py", "config_resume.py"],
    "gankit.sweep": ["sweep_grid.py", "sweep_summary.py"],
    "gankit.cli": ["cli_train.py", "cli_sample.py", "cli_eval.py", "cli_serve.py"],
    "gankit.metrics.images": ["metrics/arrays.py", "metrics/scores.py", "metrics/manifolds.py", "metrics/modes.py",
                              "metrics/bootstrap.py"],
    "gankit.metrics.features": ["metrics/feature_registry.py"],
    "gankit.serve.lab": ["serve/lab_settings.py", "serve/lab_session.py"],
}


def imported_modules(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """Every module an ``import`` in ``path`` names (at any depth), with its line: ``from gankit import api``
    counts as ``gankit.api``; relative imports are resolved against the file's package."""
    package = ".".join(("gankit", *path.relative_to(root).parent.parts))
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def upward_imports(folder: str, root: Path = SRC) -> list[str]:
    """``file:line imports MODULE`` for each import of api, cli or sweep under ``root / folder``."""
    return [f"{path.relative_to(root).as_posix()}:{line} imports {name}"
            for path in sorted((root / folder).rglob("*.py"))
            for line, name in imported_modules(path, root)
            if name in TOP or any(name.startswith(top + ".") for top in TOP)]


def test_the_bottom_layers_import_no_api_cli_or_sweep() -> None:
    found = [hit for folder in BOTTOM for hit in upward_imports(folder)]
    assert found == []


def test_a_split_out_module_never_imports_the_module_it_came_from() -> None:
    found = [f"{piece}:{line} imports {name}" for whole, pieces in PIECES.items() for piece in pieces
             for line, name in imported_modules(SRC / piece) if name == whole or name.startswith(whole + ".")]
    assert found == []


def test_the_scan_sees_every_spelling_of_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    probe = tmp_path / "models" / "probe.py"  # not a file of the repository: the scan's own check
    probe.write_text(
        "def f():\n    from gankit import api\n    import gankit.cli\n    from .. import sweep\n"
        "    from gankit.registry import RECIPES\n    from . import base\n", encoding="utf-8")
    found = upward_imports("models", tmp_path)
    name = probe.relative_to(tmp_path).as_posix()
    assert found == [f"{name}:2 imports gankit.api", f"{name}:3 imports gankit.cli", f"{name}:4 imports gankit.sweep"]


def test_training_does_not_import_the_api() -> None:
    # gankit.train.callbacks first: with lazy registries nothing is imported before it, so a cycle through the
    # recipes (models imports train.callbacks) would fail here
    code = ("import sys, gankit.train.callbacks, gankit.train.trainer, gankit.train.build, gankit.sampling; "
            f"print(sorted(m for m in sys.modules if m in {sorted(TOP)}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
