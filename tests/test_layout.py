"""The dependency rule README states: app, training and archive import model_store; none of them imports another,
and model_store imports none of them (benchmarks may import all; nothing imports benchmarks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model_store", "app", "training", "archive", "benchmarks")
ALLOWED = {
    "model_store": set(),
    "app": {"model_store"},
    "training": {"model_store"},
    "archive": {"model_store"},
    "benchmarks": {"model_store", "app", "training", "archive"},
}


def _imports(package: Path) -> dict[str, set[str]]:
    """Each of the project's packages that ``package`` imports, with the files that import it."""
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = {node.module.split(".")[0]}
            else:
                continue
            for name in names & set(PACKAGES) - {package.name}:
                found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_the_layout_allows(package):
    imported = _imports(ROOT / package)
    wrong = {name: sorted(files) for name, files in imported.items() if name not in ALLOWED[package]}
    assert not wrong, f"{package} must not import {wrong}"
    if package in ("app", "training", "archive"):
        assert "model_store" in imported
