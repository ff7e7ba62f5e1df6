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


@pytest.fixture(scope="session")
def wic_ehzf_path() -> Path:
    """Conrad Observatory 1-s IAGA-2002, 12 h, 'Reported EHZF' and columns WICE WICH WICZ WICF (CC BY 4.0)."""
    return DATA / "wic20230712vsec_00-12h.sec.gz"


@pytest.fixture(scope="session")
def wic_xyzf_path() -> Path:
    return DATA / "wic20220810vsec_00-01h.sec.gz"


@pytest.fixture(scope="session")
def bou_mseed_path() -> Path:
    return DATA / "bou20200827_min.mseed"


@pytest.fixture(scope="session")
def bou_imagcdf_path() -> Path:
    return DATA / "bou20200827_4days_vmin.cdf"
