"""miniSEED (SEED 2.x data records) with geomagnetic channels, read with ObsPy.

Needs the optional extra ``mseed`` (``pip install '.[mseed]'``). A channel is geomagnetic when its code
is a SEED code with instrument code ``F`` (magnetometer), e.g. ``LFH``/``LFE``/``LFZ`` at 1 s or
``UFH``/``UFE``/``UFZ`` at 1 minute, the element being the last letter; or, as in USGS geomag files, the
bare element (``H``, ``E``, ``Z``, ``F``). Elements follow the INTERMAGNET codes (H, D, E, Z, X, Y and the
scalar F, S, G), so the same orientations as IAGA-2002 are read: D in minutes of arc, as USGS serves
it, becomes the east component in nT. Values are taken as nT. All vector channels must share network,
station, location and sampling rate; gaps between records are missing samples.
"""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np

from ..errors import CorruptFileError, ReadError, UnsupportedComponentsError
from ..series import StationSeries
from ._components import ARCMIN_TO_RAD, vector_layout, vector_series
from ._extras import require
from ._grid import MAX_GRID_SAMPLES, place_segments
from ._source import MAX_DECOMPRESSED_BYTES, Payload, Source, as_payload

NAME = "miniseed"
DESCRIPTION = "miniSEED with geomagnetic channels (e.g. LFH/LFE/LFZ, UFH..., or H/E/Z)"
EXTRA = "mseed"

FIXED_HEADER_BYTES = 48
QUALITY_CODES = b"DRQM"
MAGNETOMETER = "F"  # SEED instrument code
SECONDS_PER_US = 1e-6


def sniff(data: bytes) -> bool:
    """True if ``data`` starts with a SEED 2.x fixed data header with a plausible start time. Never raises."""
    try:
        head = bytes(data[:FIXED_HEADER_BYTES])
        if len(head) < FIXED_HEADER_BYTES or head[6] not in QUALITY_CODES or head[7] not in b" \x00":
            return False
        if not all(c in b"0123456789 " for c in head[:6]):
            return False
        return any(_plausible_time(head, order) for order in ("big", "little"))
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def _plausible_time(head: bytes, order: str) -> bool:
    year = int.from_bytes(head[20:22], order)
    doy = int.from_bytes(head[22:24], order)
    hour, minute, second = head[24], head[25], head[26]
    return 1900 <= year <= 2200 and 1 <= doy <= 366 and hour < 24 and minute < 60 and second <= 60


def element_of(channel: str) -> str | None:
    """The INTERMAGNET element a channel code carries, or None if it is not a geomagnetic channel."""
    channel = channel.strip().upper()
    if len(channel) == 1:
        return channel
    if len(channel) == 3 and channel[1] == MAGNETOMETER:
        return channel[2]
    return None


def read(data: Payload | Source, name: str = "<bytes>") -> StationSeries:
    payload = as_payload(data, name)
    name = payload.name
    raw = payload.read_all(MAX_DECOMPRESSED_BYTES)
    obspy = require(EXTRA, "miniSEED", name)
    try:
        stream = obspy.read(io.BytesIO(raw), format="MSEED")
    except Exception as exc:  # noqa: BLE001 - ObsPy raises many kinds on damaged input
        raise CorruptFileError(f"{name}: not readable miniSEED ({type(exc).__name__}: {exc})") from exc
    del raw
    try:
        return _read_stream(stream, name)
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - trace headers from a damaged file can be anything
        raise CorruptFileError(f"{name}: miniSEED records are inconsistent ({type(exc).__name__}: {exc})") from exc


def _read_stream(stream, name: str) -> StationSeries:
    by_element = defaultdict(list)
    for tr in stream:
        element = element_of(tr.stats.channel)
        if element is not None:
            by_element[element].append(tr)
    if not by_element:
        channels = sorted({tr.stats.channel for tr in stream})
        raise UnsupportedComponentsError(
            f"{name}: no geomagnetic channels (found {', '.join(channels) or 'none'}); expected SEED codes with "
            "instrument code F such as LFH, LFE, LFZ, or the bare elements H, E, Z"
        )
    layout = vector_layout(sorted(by_element), name)
    traces = [tr for e in layout.orientation for tr in by_element[e]]
    ids = {(tr.stats.network, tr.stats.station, tr.stats.location) for tr in traces}
    if len(ids) != 1:
        raise CorruptFileError(f"{name}: vector channels come from several stations or locations: {sorted(ids)}")
    deltas = {round(float(tr.stats.delta) / SECONDS_PER_US) for tr in traces}
    if len(deltas) != 1 or min(deltas) <= 0:
        raise CorruptFileError(f"{name}: vector channels have different sampling intervals {sorted(deltas)} us")
    segments = [
        (layout.orientation.index(e), tr.stats.starttime.ns // 1000, np.asarray(tr.data, dtype=np.float64))
        for e in layout.orientation
        for tr in by_element[e]
    ]
    gridded = place_segments(segments, deltas.pop(), n_values=3, name=name, max_samples=MAX_GRID_SAMPLES)
    station = next(iter(ids))[1].strip().upper()
    return vector_series(NAME, station, layout, gridded, ARCMIN_TO_RAD)


__all__ = ["NAME", "DESCRIPTION", "EXTRA", "sniff", "read", "element_of"]
