"""BMKG FRG-604RC one-second binary day files (``S{yy}{mm}{dd}.{STN}``, often gzipped).

Layout (``docs/frg604rc-format.md``, verified on real LUT days): 144 blocks of 10,230 bytes, one per
10 minutes, then a short trailer. Each block is a 30-byte header followed by 600 records of 17 bytes.
Records are little-endian two's complement: H, D, Z as int24 in 0.01 nT; IX, IY tilt as int16 in 0.1;
sensor and electronics temperature as int16 in 0.01 degC. Missing seconds are filled with the largest
positive value and are recognised by magnitude.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from ..errors import CorruptFileError
from ..series import StationSeries
from ._source import Payload, Source, as_payload

NAME = "frg604rc"
DESCRIPTION = "BMKG FRG-604RC 1-second binary day file"

BLOCK_MAGIC = b"\x11\x30"
HEADER_BYTES = 30
RECORD_BYTES = 17
RECORDS_PER_BLOCK = 600
BLOCK_BYTES = HEADER_BYTES + RECORDS_PER_BLOCK * RECORD_BYTES  # 10,230
BLOCKS_PER_DAY = 144
SECONDS_PER_DAY = 86_400
MAX_TRAILER_BYTES = 16  # files seen end with 3 bytes FA F3 20
# Inflate at most one block more than a day, so that an over-long file is refused by its block count.
MAX_READ_BYTES = (BLOCKS_PER_DAY + 1) * BLOCK_BYTES

STATION_SLICE = slice(2, 5)
TIME_SLICE = slice(5, 10)  # yy mm dd hh mi, binary
VOLTAGE_BYTE = 27  # 0.1 V

FIELD_SCALE = 0.01  # nT per count for H, D, Z
TILT_SCALE = 0.1
TEMP_SCALE = 0.01
FIELD_MISSING_ABOVE = 80_000.0  # nT
TILT_MISSING_ABOVE = 3_000.0
TEMP_MISSING_ABOVE = 300.0
VOLTAGE_MAX = 24.0


def sniff(data: bytes) -> bool:
    """True if ``data`` starts like an FRG-604RC file. Never raises."""
    try:
        return (
            len(data) >= HEADER_BYTES
            and data[:2] == BLOCK_MAGIC
            and data[STATION_SLICE].isalpha()
            and data[STATION_SLICE].isupper()
        )
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def _field(data: bytes, n_blocks: int, offset: int, dtype: str) -> np.ndarray:
    """(blocks, records) view of the ``dtype`` value at ``offset`` within each record (no copy)."""
    return np.ndarray((n_blocks, RECORDS_PER_BLOCK), dtype=dtype, buffer=data, offset=HEADER_BYTES + offset,
                      strides=(BLOCK_BYTES, RECORD_BYTES))


def _int24(data: bytes, n_blocks: int, offset: int) -> np.ndarray:
    """Little-endian signed 24-bit values: the 4 bytes ending with each value's last byte, shifted right by 8
    (the byte before is the previous field's, or the block header's, so it is always in the buffer), which
    drops that byte and extends the sign."""
    return _field(data, n_blocks, offset - 1, "<i4") >> 8


def _int16(data: bytes, n_blocks: int, offset: int) -> np.ndarray:
    return _field(data, n_blocks, offset, "<i2")


def _scaled(raw: np.ndarray, scale: float, missing_above: float) -> np.ndarray:
    out = np.multiply(raw, scale, dtype=np.float64)
    out[np.abs(out) > missing_above] = np.nan
    return out


def read(data: Payload | Source, name: str = "<bytes>") -> StationSeries:
    payload = as_payload(data, name)
    name = payload.name
    data = payload.read_all(MAX_READ_BYTES)
    n_blocks, trailer = divmod(len(data), BLOCK_BYTES)
    if n_blocks == 0:
        raise CorruptFileError(
            f"{name}: {len(data)} bytes is shorter than one {BLOCK_BYTES}-byte FRG-604RC block"
        )
    if trailer > MAX_TRAILER_BYTES:
        raise CorruptFileError(
            f"{name}: truncated: block {n_blocks + 1} at byte {n_blocks * BLOCK_BYTES} has only "
            f"{trailer} of {BLOCK_BYTES} bytes"
        )
    if n_blocks > BLOCKS_PER_DAY:
        raise CorruptFileError(f"{name}: {n_blocks} blocks, more than the {BLOCKS_PER_DAY} of one day")

    blocks = np.frombuffer(data, dtype=np.uint8, count=n_blocks * BLOCK_BYTES).reshape(n_blocks, BLOCK_BYTES)
    headers = blocks[:, :HEADER_BYTES]
    bad_magic = np.flatnonzero((headers[:, 0] != BLOCK_MAGIC[0]) | (headers[:, 1] != BLOCK_MAGIC[1]))
    if bad_magic.size:
        k = int(bad_magic[0])
        raise CorruptFileError(
            f"{name}: block {k + 1} at byte {k * BLOCK_BYTES} does not start with the FRG-604RC "
            f"block marker 11 30"
        )
    stations = {bytes(h[STATION_SLICE]) for h in headers}
    if len(stations) != 1:
        raise CorruptFileError(f"{name}: blocks name different stations {sorted(stations)}")
    station = stations.pop().decode("ascii", errors="replace")

    times = headers[:, TIME_SLICE].astype(np.int64)
    dates = {tuple(t[:3]) for t in times}
    if len(dates) != 1:
        raise CorruptFileError(f"{name}: blocks carry different dates {sorted(dates)}")
    yy, mm, dd = dates.pop()
    try:
        day = datetime(2000 + int(yy), int(mm), int(dd), tzinfo=timezone.utc)
    except ValueError as exc:
        raise CorruptFileError(f"{name}: block header date {yy:02d}-{mm:02d}-{dd:02d} is invalid") from exc
    hours, minutes = times[:, 3], times[:, 4]
    bad_time = np.flatnonzero((hours > 23) | (minutes > 59) | (minutes % 10 != 0))
    if bad_time.size:
        k = int(bad_time[0])
        raise CorruptFileError(
            f"{name}: block {k + 1} header time {hours[k]:02d}:{minutes[k]:02d} is not a 10-minute mark"
        )
    slots = hours * 6 + minutes // 10
    if len(np.unique(slots)) != n_blocks:
        dup = int(slots[np.flatnonzero(np.bincount(slots) > 1)[0]]) if n_blocks else 0
        raise CorruptFileError(f"{name}: more than one block for {dup // 6:02d}:{dup % 6 * 10:02d}")

    per_block = {
        "H": _scaled(_int24(data, n_blocks, 0), FIELD_SCALE, FIELD_MISSING_ABOVE),
        "D": _scaled(_int24(data, n_blocks, 3), FIELD_SCALE, FIELD_MISSING_ABOVE),
        "Z": _scaled(_int24(data, n_blocks, 6), FIELD_SCALE, FIELD_MISSING_ABOVE),
        "IX": _scaled(_int16(data, n_blocks, 9), TILT_SCALE, TILT_MISSING_ABOVE),
        "IY": _scaled(_int16(data, n_blocks, 11), TILT_SCALE, TILT_MISSING_ABOVE),
        "TempS": _scaled(_int16(data, n_blocks, 13), TEMP_SCALE, TEMP_MISSING_ABOVE),
        "TempP": _scaled(_int16(data, n_blocks, 15), TEMP_SCALE, TEMP_MISSING_ABOVE),
    }
    # Place each block at its header time; blocks absent from the file stay missing.
    complete = n_blocks == BLOCKS_PER_DAY and bool((slots == np.arange(BLOCKS_PER_DAY)).all())
    day_arrays = {}
    for key, values in per_block.items():
        if complete:  # every block, in order: the values are the day as they stand
            day_arrays[key] = values.reshape(SECONDS_PER_DAY)
            continue
        full = np.full((BLOCKS_PER_DAY, RECORDS_PER_BLOCK), np.nan)
        full[slots] = values
        day_arrays[key] = full.reshape(SECONDS_PER_DAY)
    voltage = np.full(BLOCKS_PER_DAY, np.nan)
    volts = headers[:, VOLTAGE_BYTE].astype(np.float64) * 0.1
    volts[volts > VOLTAGE_MAX] = np.nan
    voltage[slots] = volts

    return StationSeries(
        station=station,
        start=day,
        sampling_interval_s=1.0,
        h=day_arrays.pop("H"),
        d=day_arrays.pop("D"),
        z=day_arrays.pop("Z"),
        source_format=NAME,
        aux={**day_arrays, "supply_voltage_per_block": voltage},
    )


