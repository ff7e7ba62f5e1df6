"""The packaged BMKG magnetometer station table (code, name, latitude, longitude)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    latitude: float
    longitude: float


@lru_cache(maxsize=1)
def load_stations() -> dict[str, Station]:
    """Station code -> Station, from ``model_store/data/stations.csv`` (BMKG)."""
    text = resources.files(__package__).joinpath("data/stations.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return {
        r["code"].strip().upper(): Station(
            r["code"].strip().upper(), r["name"].strip(), float(r["latitude"]), float(r["longitude"])
        )
        for r in rows
    }


def get_station(code: str) -> Station | None:
    return load_stations().get(code.strip().upper())
