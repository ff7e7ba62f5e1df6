"""A documented CSV for data that comes in no standard format.

```
# station: LUT                 (optional comment lines: station, latitude, longitude)
time,H,D,Z                     (header; the time column may be called time, timestamp, time_utc or datetime)
2023-01-01T00:00:00Z,38392.76,-52.31,-23468.90
```
Times are ISO-8601 in UTC (a trailing ``Z`` or ``+00:00``; naive times are taken as UTC). H, D, Z are in
nT with D the east component; an empty cell or ``nan`` is a missing sample. Rows must be on a regular
time grid; skipped rows become missing samples.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import numpy as np

from ..errors import CorruptFileError
from ..fileio import parse_utc
from ..series import StationSeries
from ._grid import regular_grid
from ._source import decode_text

NAME = "csv"
DESCRIPTION = "CSV with a UTC time column and H, D, Z columns in nT"

TIME_COLUMNS = ("time", "timestamp", "time_utc", "datetime")
FIELD_COLUMNS = ("h", "d", "z")
COMMENT = "#"


def _split(text: str) -> tuple[dict[str, str], list[str]]:
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(COMMENT):
            key, sep, value = stripped.lstrip("#").partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip()
        elif stripped:
            body.append(stripped)
    return meta, body


def _header_columns(line: str) -> list[str]:
    return [c.strip().lower() for c in next(csv.reader([line]))]


def sniff(data: bytes) -> bool:
    """True if ``data`` is text whose header names a time column and H, D, Z. Never raises."""
    try:
        text = decode_text(data[:8192])
        if text is None:
            return False
        _, body = _split(text)
        if not body:
            return False
        cols = _header_columns(body[0])
        return any(c in cols for c in TIME_COLUMNS) and all(c in cols for c in FIELD_COLUMNS)
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def _parse_value(value: str) -> float:
    value = value.strip()
    return float(value) if value and value.lower() != "nan" else np.nan


def read(data: bytes, name: str = "<bytes>") -> StationSeries:
    text = decode_text(data)
    if text is None:
        raise CorruptFileError(f"{name}: CSV must be UTF-8 text")
    meta, body = _split(text)
    if not body:
        raise CorruptFileError(f"{name}: no header line")
    cols = _header_columns(body[0])
    time_col = next((cols.index(c) for c in TIME_COLUMNS if c in cols), None)
    if time_col is None or not all(c in cols for c in FIELD_COLUMNS):
        raise CorruptFileError(f"{name}: header must name a time column ({'/'.join(TIME_COLUMNS)}) and H, D, Z")
    field_idx = [cols.index(c) for c in FIELD_COLUMNS]

    times: list[datetime] = []
    rows: list[list[float]] = []
    for lineno, row in enumerate(csv.reader(io.StringIO("\n".join(body[1:]))), start=2):
        try:
            times.append(parse_utc(row[time_col]))
            rows.append([_parse_value(row[i]) for i in field_idx])
        except (ValueError, IndexError) as exc:
            raise CorruptFileError(f"{name}: data row {lineno - 1} is malformed: {','.join(row)[:60]!r}") from exc
    if not rows:
        raise CorruptFileError(f"{name}: header but no data rows")

    start, interval, index = regular_grid(times, name)
    grid = np.full((index[-1] + 1, 3), np.nan)
    grid[index] = np.asarray(rows, dtype=np.float64)
    try:
        lat = float(meta["latitude"]) if "latitude" in meta else None
        lon = float(meta["longitude"]) if "longitude" in meta else None
    except ValueError as exc:
        raise CorruptFileError(f"{name}: latitude/longitude comment is not a number") from exc
    return StationSeries(
        station=meta.get("station", "").upper(),
        start=start,
        sampling_interval_s=interval,
        h=grid[:, 0],
        d=grid[:, 1],
        z=grid[:, 2],
        source_format=NAME,
        latitude=lat,
        longitude=lon,
    )
