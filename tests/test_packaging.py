"""Packaging metadata: an MIT LICENSE file and the SPDX licence expression (no setuptools deprecation)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_and_spdx_expression():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "The magnetometer precursor service authors" in text
    assert project["scripts"]["precursor-serve"] == "app.__main__:main"
