"""Geomagnetic activity (Kp) series as CSV.

Kp columns: ``time_utc, kp`` (3-hourly, GFZ layout). Earthquake catalogues (the BMKG and USGS ComCat
layouts) are read by :mod:`model_store.catalog`, shared with the service and the archive analysis.
"""

from __future__ import annotations

import csv
import os
from bisect import bisect_right
from datetime import datetime

from model_store.catalog import format_time
from model_store.fileio import atomic_write_text, parse_utc


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
