"""Earthquake catalogues and geomagnetic activity (Kp) series as CSV.

Catalogue columns (the BMKG export layout): ``time_utc, latitude, longitude, depth_km, magnitude``
plus optional ``region`` and ``event_id``. Kp columns: ``time_utc, kp`` (3-hourly, GFZ layout).
"""

from __future__ import annotations

import csv
import io
import os
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone

from model_store.fileio import atomic_write_text, parse_utc

CATALOG_COLUMNS = ("event_id", "time_utc", "latitude", "longitude", "depth_km", "magnitude", "region")


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


def read_catalog(path: str | os.PathLike) -> list[Event]:
    """Events sorted by time. Without an ``event_id`` column, ids are made from time and position."""
    events = []
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                t = parse_utc(row["time_utc"])
                lat, lon = float(row["latitude"]), float(row["longitude"])
                event_id = row.get("event_id") or f"{t:%Y%m%dT%H%M%S}_{lat:+.2f}_{lon:+.2f}"
                events.append(
                    Event(event_id, t, lat, lon, float(row.get("depth_km") or 0), float(row["magnitude"]),
                          row.get("region", ""))
                )
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}: line {i} is not a catalogue row: {exc}") from exc
    return sorted(events, key=lambda e: e.time)


def write_catalog(events: list[Event], path: str | os.PathLike) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CATALOG_COLUMNS)
    for e in events:
        w.writerow([e.event_id, format_time(e.time), f"{e.latitude:.4f}", f"{e.longitude:.4f}",
                    f"{e.depth_km:.1f}", f"{e.magnitude:.2f}", e.region])
    atomic_write_text(path, buf.getvalue())


class KpSeries:
    """Step function of 3-hourly Kp values; ``at(t)`` gives the value of the interval holding t."""

    def __init__(self, times: list[datetime], values: list[float]) -> None:
        self.times, self.values = times, values

    @classmethod
    def read(cls, path: str | os.PathLike) -> KpSeries:
        times, values = [], []
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                times.append(parse_utc(row["time_utc"]))
                values.append(float(row["kp"]))
        return cls(times, values)

    def write(self, path: str | os.PathLike) -> None:
        lines = ["time_utc,kp"] + [f"{format_time(t)},{v:.3f}" for t, v in zip(self.times, self.values)]
        atomic_write_text(path, "\n".join(lines) + "\n")

    def at(self, t: datetime) -> float | None:
        i = bisect_right(self.times, t) - 1
        return self.values[i] if 0 <= i < len(self.values) and (t - self.times[i]).total_seconds() < 3 * 3600 else None

    def max_between(self, start: datetime, end: datetime) -> float | None:
        i0 = max(0, bisect_right(self.times, start) - 1)
        i1 = bisect_right(self.times, end)
        vals = self.values[i0:i1]
        return max(vals) if vals else None
