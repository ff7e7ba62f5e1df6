"""IAGA-2002, the INTERMAGNET exchange format (1-second and 1-minute; HDZF, HEZF, XYZF, ...).

Fixed-width header lines end in ``|``; the column header line starts with ``DATE``; data lines are
``YYYY-MM-DD HH:MM:SS.sss DOY c1 c2 c3 c4``. ``99999.00`` marks a missing value and ``88888.00`` a
value that was not recorded; both become NaN. D given as an angle (minutes of arc) is turned into
the east component in nT, ``D_nT = H * sin(D)``; for XYZ data H = sqrt(X^2 + Y^2) and D = Y.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import numpy as np

from ..errors import CorruptFileError
from ..series import StationSeries
from ._grid import regular_grid

NAME = "iaga2002"
DESCRIPTION = "IAGA-2002 text (INTERMAGNET), 1-second or 1-minute"

MISSING_VALUES = (99999.0, 88888.0)
MISSING_TOLERANCE = 0.5
SUPPORTED_ORIENTATIONS = ("HDZ", "HEZ", "XYZ", "DHZ")
_FORMAT_LINE = re.compile(r"^\s*Format\s+IAGA-2002", re.IGNORECASE)
_ARCMIN_TO_RAD = math.pi / (180.0 * 60.0)


def sniff(data: bytes) -> bool:
    """True if ``data`` starts with an IAGA-2002 header. Never raises."""
    try:
        head = data[:400].decode("ascii", errors="replace")
        return bool(_FORMAT_LINE.match(head.splitlines()[0])) if head.strip() else False
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def _parse_header(lines: list[str], name: str) -> tuple[dict[str, str], int]:
    header: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.startswith("DATE"):
            return header, i
        body = line.rstrip().rstrip("|").strip()
        if not body or body.startswith("#"):
            continue
        key, _, value = body.partition("  ")
        header[key.strip().lower()] = value.strip()
    raise CorruptFileError(f"{name}: no 'DATE TIME DOY ...' column header line found")


def read(data: bytes, name: str = "<bytes>") -> StationSeries:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{name}: IAGA-2002 must be ASCII; bad byte at offset {exc.start}") from exc
    lines = text.splitlines()
    header, col_line = _parse_header(lines, name)
    columns = lines[col_line].rstrip("| ").split()
    if len(columns) < 6:
        raise CorruptFileError(f"{name}: column header line {col_line + 1} has {len(columns)} columns, need 6+")
    station = header.get("iaga code", "") or columns[3][:3]
    orientation = header.get("reported", "").upper() or "".join(c[-1] for c in columns[3:7])
    components = orientation[:3]
    if components not in SUPPORTED_ORIENTATIONS:
        raise CorruptFileError(
            f"{name}: reported components {orientation!r} not supported (need one of {', '.join(SUPPORTED_ORIENTATIONS)})"
        )

    times: list[datetime] = []
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines[col_line + 1 :], start=col_line + 2):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 6:
            raise CorruptFileError(f"{name}: line {lineno} has {len(parts)} fields, expected 7: {line[:60]!r}")
        try:
            t = datetime.fromisoformat(f"{parts[0]}T{parts[1]}").replace(tzinfo=timezone.utc)
            rows.append([float(v) for v in parts[3:6]])
        except ValueError as exc:
            raise CorruptFileError(f"{name}: line {lineno} is not a data row: {line[:60]!r}") from exc
        times.append(t)
    if not rows:
        raise CorruptFileError(f"{name}: header but no data rows")

    values = np.asarray(rows, dtype=np.float64)
    for code in MISSING_VALUES:
        values[np.abs(values - code) < MISSING_TOLERANCE] = np.nan
    start, interval, index = regular_grid(times, name)
    grid = np.full((index[-1] + 1, 3), np.nan)
    grid[index] = values
    c1, c2, c3 = grid.T
    h, d = _to_h_and_east(components, c1, c2)

    lat = _float_or_none(header.get("geodetic latitude"))
    lon = _float_or_none(header.get("geodetic longitude"))
    if lon is not None and lon > 180.0:
        lon -= 360.0
    return StationSeries(
        station=station.upper(),
        start=start,
        sampling_interval_s=interval,
        h=h,
        d=d,
        z=c3,
        source_format=NAME,
        latitude=lat,
        longitude=lon,
    )


def _to_h_and_east(components: str, c1: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if components == "HDZ":  # D in minutes of arc
        return c1, c1 * np.sin(c2 * _ARCMIN_TO_RAD)
    if components == "DHZ":
        return c2, c2 * np.sin(c1 * _ARCMIN_TO_RAD)
    if components == "XYZ":
        return np.hypot(c1, c2), c2
    return c1, c2  # HEZ: E already in nT


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


__all__ = ["NAME", "DESCRIPTION", "sniff", "read"]
