"""Fixtures of the archive tests: real days, a small simulated world without precursors written as FRG-604RC
day files, and helpers to read what a run wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

SIM_STATIONS = ("LUT", "KPY", "LWA")
SIM_DAYS = 8


@pytest.fixture(scope="session")
def real_days(tmp_path_factory, data_dir) -> Path:
    """A folder with the real LUT day (FRG-604RC, gzip) and 12 h of WIC (IAGA-2002, gzip)."""
    folder = tmp_path_factory.mktemp("real")
    for name in ("S230101.LUT.gz", "wic20230712vsec_00-12h.sec.gz"):
        shutil.copy(data_dir / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def sim_world(tmp_path_factory) -> Path:
    """``raw/CODE/SyymmDD.CODE`` FRG-604RC days of three BMKG stations in a world without precursors, with its
    ``catalog.csv`` and ``stations.csv`` (as ``python -m training simulate`` writes them)."""
    from model_store.catalog import write_catalog
    from training.simulate import SimConfig, World
    from training.writers import to_frg604rc

    folder = tmp_path_factory.mktemp("sim")
    world = World(SimConfig(days=SIM_DAYS, stations=SIM_STATIONS, precursors=False, seed=3))
    for day in range(SIM_DAYS):
        for code, series in world.simulate_day(day).items():
            path = folder / "raw" / code / f"S{series.start:%y%m%d}.{code}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(to_frg604rc(series))
    write_catalog(world.events, folder / "catalog.csv")
    lines = ["code,name,latitude,longitude"] + [f"{s.code},{s.name},{s.latitude},{s.longitude}"
                                                for s in world.stations.values()]
    (folder / "stations.csv").write_text("\n".join(lines) + "\n")
    return folder
