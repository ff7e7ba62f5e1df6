"""Station tables (code, name, latitude, longitude): the packaged BMKG table and layouts read from CSV."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

STATION_COLUMNS = ("code", "name", "latitude", "longitude")


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    latitude: float
    longitude: float


def parse_stations(text: str, source: str = "<stations>") -> dict[str, Station]:
    """Station code (upper case) -> Station from CSV text with columns code, name, latitude, longitude.

    Refuses a missing column, a duplicate code, an empty code and coordinates outside [-90, 90] and
    [-180, 360] degrees (a longitude above 180 is taken as east of Greenwich, e.g. 256.5 = -103.5).
    """
    rows = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in rows.fieldnames or ()]
    missing = [c for c in STATION_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{source}: station table needs columns {', '.join(STATION_COLUMNS)}; missing {missing}")
    out: dict[str, Station] = {}
    for line, raw in enumerate(rows, start=2):
        r = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        code = r["code"].upper()
        if not code:
            raise ValueError(f"{source}: line {line} has no station code")
        if code in out:
            raise ValueError(f"{source}: station {code} is listed twice (line {line})")
        try:
            lat, lon = float(r["latitude"]), float(r["longitude"])
        except ValueError:
            raise ValueError(f"{source}: line {line} ({code}): latitude and longitude must be numbers") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
            raise ValueError(f"{source}: line {line} ({code}): ({lat}, {lon}) is not a position in degrees")
        out[code] = Station(code, r["name"], lat, lon - 360.0 if lon > 180.0 else lon)
    if not out:
        raise ValueError(f"{source}: the station table is empty")
    return out


def read_stations(path: str | os.PathLike) -> dict[str, Station]:
    """A station layout from a CSV file (columns code, name, latitude, longitude)."""
    with open(path, encoding="utf-8") as fh:
        return parse_stations(fh.read(), str(path))


@lru_cache(maxsize=1)
def load_stations() -> dict[str, Station]:
    """Station code -> Station, from ``model_store/data/stations.csv`` (BMKG)."""
    text = resources.files(__package__).joinpath("data/stations.csv").read_text(encoding="utf-8")
    return parse_stations(text, "model_store/data/stations.csv")


def get_station(code: str) -> Station | None:
    return load_stations().get(code.strip().upper())
