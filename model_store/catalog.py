"""Earthquake catalogues as CSV: the BMKG export layout and USGS ComCat's, read into the same records.

Two layouts are recognised from the header row (column order does not matter, extra columns are
ignored):

* **BMKG** (this project's layout, also what :func:`write_catalog` writes and the simulator's
  ``catalog.csv``): ``time_utc, latitude, longitude, depth_km, magnitude`` plus optional ``region``
  and ``event_id``. Without ``event_id`` an id is made from the time and position.
* **ComCat** (USGS, ``https://earthquake.usgs.gov/fdsnws/event/1/query?format=csv``): ``time,
  latitude, longitude, depth, mag, magType, nst, gap, dmin, rms, net, id, updated, place, type, ...``,
  times ISO 8601 with ``Z``. ``id`` becomes the event id and ``place`` the region. Rows whose
  ``type`` is not ``earthquake`` (quarry blasts, explosions, ...) are skipped unless
  ``earthquakes_only=False``.

Magnitudes are taken as the catalogue gives them (ComCat's ``magType`` and BMKG's mixed types are not
converted). An empty depth reads as 0 km. A row that cannot be read raises :class:`CatalogError`
naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import ModelStoreError
from .fileio import atomic_write_text, parse_utc

CATALOG_COLUMNS = ("event_id", "time_utc", "latitude", "longitude", "depth_km", "magnitude", "region")
BMKG_REQUIRED = ("time_utc", "latitude", "longitude", "magnitude")
COMCAT_REQUIRED = ("time", "latitude", "longitude", "mag")


class CatalogError(ModelStoreError, ValueError):
    """A catalogue file whose header or a row cannot be read (the message names the file and line)."""


@dataclass(frozen=True)
class Event:
    event_id: str
    time: datetime
    latitude: float
    longitude: float
    depth_km: float
    magnitude: float
    region: str = ""


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def catalog_layout(header: list[str]) -> str:
    """``"bmkg"`` or ``"comcat"`` from a header row's column names; ValueError when it is neither."""
    names = {h.strip() for h in header}
    if all(c in names for c in BMKG_REQUIRED):
        return "bmkg"
    if all(c in names for c in COMCAT_REQUIRED):
        return "comcat"
    raise ValueError(f"columns {sorted(names)} are neither the BMKG layout (needs {', '.join(BMKG_REQUIRED)}) "
                     f"nor USGS ComCat's (needs {', '.join(COMCAT_REQUIRED)})")


def _finite(value: str, name: str) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return x


def _event(row: dict[str, str], layout: str) -> Event:
    if layout == "bmkg":
        time_key, depth_key, mag_key, region_key, id_key = "time_utc", "depth_km", "magnitude", "region", "event_id"
    else:
        time_key, depth_key, mag_key, region_key, id_key = "time", "depth", "mag", "place", "id"
    t = parse_utc(row[time_key])
    lat, lon = _finite(row["latitude"], "latitude"), _finite(row["longitude"], "longitude")
    if abs(lat) > 90 or abs(lon) > 360:
        raise ValueError(f"position ({lat}, {lon}) is off the globe")
    magnitude = _finite(row[mag_key], "magnitude")
    depth = _finite(row.get(depth_key) or "0", "depth")
    event_id = (row.get(id_key) or "").strip() or f"{t:%Y%m%dT%H%M%S}_{lat:+.2f}_{lon:+.2f}"
    return Event(event_id, t, lat, lon, depth, magnitude, (row.get(region_key) or "").strip())


def read_catalog(path: str | os.PathLike, min_magnitude: float | None = None,
                 earthquakes_only: bool = True) -> list[Event]:
    """Events of a BMKG- or ComCat-layout CSV (told apart by the header), sorted by time.

    ``min_magnitude`` keeps events with ``magnitude >= min_magnitude`` (inclusive); None keeps all.
    ``earthquakes_only`` (ComCat only) skips rows whose ``type`` column is present and not
    ``earthquake``. Raises :class:`CatalogError` naming the file and line of the first unreadable row.
    """
    events = []
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(fh)
        try:
            layout = catalog_layout(reader.fieldnames or [])
        except ValueError as exc:
            raise CatalogError(f"{path}: line 1 is not a catalogue header: {exc}") from exc
        for row in reader:
            if layout == "comcat" and earthquakes_only and (row.get("type") or "earthquake").strip() != "earthquake":
                continue
            try:
                if None in row:
                    raise ValueError(f"has {len(reader.fieldnames) + len(row[None])} fields, the header "
                                     f"{len(reader.fieldnames)}")
                if any(row[k] is None for k in reader.fieldnames):
                    raise ValueError(f"has fewer fields than the header's {len(reader.fieldnames)}")
                event = _event(row, layout)
            except (KeyError, ValueError, TypeError) as exc:
                raise CatalogError(f"{path}: line {reader.line_num} is not a catalogue row: {exc}") from exc
            if min_magnitude is None or event.magnitude >= min_magnitude:
                events.append(event)
    return sorted(events, key=lambda e: e.time)


def write_catalog(events: list[Event], path: str | os.PathLike) -> None:
    """Events in the BMKG layout with ``event_id`` first (what :func:`read_catalog` reads back)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CATALOG_COLUMNS)
    for e in events:
        w.writerow([e.event_id, format_time(e.time), f"{e.latitude:.4f}", f"{e.longitude:.4f}",
                    f"{e.depth_km:.1f}", f"{e.magnitude:.2f}", e.region])
    atomic_write_text(path, buf.getvalue())


__all__ = ["CATALOG_COLUMNS", "CatalogError", "Event", "catalog_layout", "format_time", "read_catalog",
           "write_catalog"]
