"""YAML config loading for the training CLI.

A config may name another with ``extends: other.yaml`` (a path relative to itself); its sections are
merged into the other's, key by key, so variants of a world repeat only what they change.

File paths inside a config (``PATH_KEYS``, e.g. ``simulator.stations_file``) are relative to the file
that names them, like ``extends``; they are returned as absolute paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXTENDS_KEY = "extends"
MAX_EXTENDS_DEPTH = 8
PATH_KEYS = (("simulator", "stations_file"),)  # (section, key) holding a file path


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
    _resolve_paths(data, Path(path).parent)
    parent = data.pop(EXTENDS_KEY, None)
    if parent is None:
        return data
    return _merge(load_yaml(Path(path).parent / str(parent), _depth + 1), data)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make the relative file paths of ``PATH_KEYS`` absolute, relative to ``base`` (in place)."""
    for section, key in PATH_KEYS:
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str) and block[key]:
            value = Path(block[key]).expanduser()
            block[key] = str(value if value.is_absolute() else (base / value).resolve())
