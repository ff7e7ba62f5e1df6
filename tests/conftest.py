from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def lut_day_path() -> Path:
    return DATA / "S230101.LUT.gz"


@pytest.fixture(scope="session")
def lut_day(lut_day_path):
    from model_store import read_series

    return read_series(lut_day_path)
