"""Writers for the station formats the simulator emits, so the real readers are exercised.

The FRG-604RC writer is the exact inverse of ``model_store.formats.frg604rc`` (constants shared);
IAGA-2002 follows the INTERMAGNET layout with 99999.00 for missing values.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from model_store import StationSeries
from model_store.formats import frg604rc as frg

FRG_TRAILER = b"\xfa\xf3\x20"
INT24_MISSING = 0x7FFFFF
INT16_MISSING = 0x7FFF
IAGA_MISSING = 99999.00


def _counts(x: np.ndarray, scale: float, limit: int, missing: int) -> np.ndarray:
    c = np.rint(np.nan_to_num(x, nan=np.inf) / scale)
    bad = ~np.isfinite(c) | (np.abs(c) >= limit)
    return np.where(bad, missing, c).astype(np.int64)


def _int24_bytes(counts: np.ndarray) -> np.ndarray:
    u = counts & 0xFFFFFF
    return np.stack([(u >> (8 * k)) & 0xFF for k in range(3)], axis=-1).astype(np.uint8)


def _int16_bytes(counts: np.ndarray) -> np.ndarray:
    return (counts & 0xFFFF).astype("<u2").view(np.uint8).reshape(*counts.shape, 2)


def to_frg604rc(series: StationSeries, temperature_c: float = 30.0, voltage_v: float = 12.6) -> bytes:
    """Encode one UTC day of 1-Hz data (86,400 samples from 00:00) as an FRG-604RC file."""
    if series.sampling_interval_s != 1.0 or series.n_samples != frg.SECONDS_PER_DAY:
        raise ValueError("FRG-604RC holds exactly one day of 1-second samples")
    if series.start != series.start.replace(hour=0, minute=0, second=0, microsecond=0):
        raise ValueError("FRG-604RC days start at 00:00 UTC")
    n = frg.SECONDS_PER_DAY
    field_limit = int(frg.FIELD_MISSING_ABOVE / frg.FIELD_SCALE)
    rec = np.zeros((n, frg.RECORD_BYTES), dtype=np.uint8)
    for k, x in enumerate((series.h, series.d, series.z)):
        rec[:, 3 * k : 3 * k + 3] = _int24_bytes(_counts(x, frg.FIELD_SCALE, field_limit, INT24_MISSING))
    zeros = np.zeros(n)
    temp = np.full(n, temperature_c)
    for offset, x, scale in ((9, zeros, frg.TILT_SCALE), (11, zeros, frg.TILT_SCALE),
                             (13, temp, frg.TEMP_SCALE), (15, temp, frg.TEMP_SCALE)):
        rec[:, offset : offset + 2] = _int16_bytes(_counts(x, scale, 30_000, INT16_MISSING))
    rec = rec.reshape(frg.BLOCKS_PER_DAY, frg.RECORDS_PER_BLOCK * frg.RECORD_BYTES)

    headers = np.zeros((frg.BLOCKS_PER_DAY, frg.HEADER_BYTES), dtype=np.uint8)
    headers[:, 0:2] = np.frombuffer(frg.BLOCK_MAGIC, dtype=np.uint8)
    headers[:, 2:5] = np.frombuffer(series.station.upper()[:3].ljust(3, "X").encode("ascii"), dtype=np.uint8)
    day = series.start
    headers[:, 5:8] = [day.year - 2000, day.month, day.day]
    slots = np.arange(frg.BLOCKS_PER_DAY)
    headers[:, 8] = slots // 6
    headers[:, 9] = (slots % 6) * 10
    headers[:, frg.VOLTAGE_BYTE] = int(round(voltage_v * 10))
    return np.concatenate([headers, rec], axis=1).tobytes() + FRG_TRAILER


def to_iaga2002(series: StationSeries) -> bytes:
    """Encode a series as IAGA-2002 text with HEZF components (E = the D channel in nT)."""
    interval = series.sampling_interval_s
    kind = "1-second" if interval == 1.0 else f"{interval:g}-second"
    lat = "" if series.latitude is None else f"{series.latitude:.3f}"
    lon = "" if series.longitude is None else f"{series.longitude % 360:.3f}"
    code = series.station.upper()[:3]
    head = [
        ("Format", "IAGA-2002"), ("Source of Data", "precursor-service simulator"), ("Station Name", code),
        ("IAGA CODE", code), ("Geodetic Latitude", lat), ("Geodetic Longitude", lon), ("Elevation", "0"),
        ("Reported", "HEZF"), ("Sensor Orientation", "HEZF"), ("Digital Sampling", f"{interval:g} second"),
        ("Data Interval Type", f"Average {kind}"), ("Data Type", "variation"),
    ]
    lines = [f" {k:<22}{v:<44}|" for k, v in head]
    lines.append(f"DATE       TIME         DOY     {code}H      {code}E      {code}Z      {code}F   |")
    values = np.stack([series.h, series.d, series.z]).T
    values = np.where(np.isnan(values), IAGA_MISSING, values)
    for i, (h, e, z) in enumerate(values):
        t = series.start + timedelta(seconds=i * interval)
        lines.append(
            f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {t.timetuple().tm_yday:03d}   "
            f"{h:10.2f}{e:10.2f}{z:10.2f}{IAGA_MISSING:10.2f}"
        )
    return ("\n".join(lines) + "\n").encode("ascii")
