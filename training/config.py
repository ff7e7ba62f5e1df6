"""YAML config loading for the training CLI.

A config may name another with ``extends: other.yaml`` (a path relative to itself); its sections are
merged into the other's, key by key, so variants of a world repeat only what they change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXTENDS_KEY = "extends"
MAX_EXTENDS_DEPTH = 8


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_yaml(path: str | Path | None, _depth: int = 0) -> dict[str, Any]:
    if path is None:
        return {}
    if _depth > MAX_EXTENDS_DEPTH:
        raise ValueError(f"{path}: '{EXTENDS_KEY}' nests deeper than {MAX_EXTENDS_DEPTH} levels (a cycle?)")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    parent = data.pop(EXTENDS_KEY, None)
    if parent is None:
        return data
    return _merge(load_yaml(Path(path).parent / str(parent), _depth + 1), data)
