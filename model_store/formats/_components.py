"""Turn the field elements a file records into the H, D (east, nT) and Z every reader returns.

Elements are the INTERMAGNET codes: H, D, E, Z (geomagnetic frame), X, Y, Z (geographic frame), and the
scalar F, S, G, which are not used. The vector elements may come in any order (HDZ, DHZ, EHZ, ...);
anything else (an instrument frame such as USGS ``UVW``, or unknown codes) is refused with a message
that says what is needed, because such data must first be rotated with the observatory's baselines.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..errors import UnsupportedComponentsError
from ..series import StationSeries
from ._physical import MAX_DECLINATION_DEG, MAX_FIELD_NT, mask_unphysical

ORIENTATIONS = ("HDZ", "HEZ", "XYZ")
SCALAR_ELEMENTS = "FSG"
INSTRUMENT_FRAME = "UVWIJKN"
NEEDED = "H, D (or E), Z in the geomagnetic frame or X, Y, Z in the geographic frame (any order)"

ARCMIN_TO_RAD = math.pi / (180.0 * 60.0)
DEG_TO_RAD = math.pi / 180.0


@dataclass(frozen=True)
class VectorLayout:
    """Which of the recorded elements hold the vector, and in what frame."""

    orientation: str  # one of ORIENTATIONS
    index: dict[str, int]  # element -> position among the recorded elements


def vector_layout(elements: Sequence[str], name: str) -> VectorLayout:
    """Find a usable vector orientation among ``elements`` or raise UnsupportedComponentsError."""
    codes = [e.strip().upper() for e in elements]
    vector = [c for c in codes if c not in SCALAR_ELEMENTS]
    for orientation in ORIENTATIONS:
        if sorted(vector) == sorted(orientation):
            return VectorLayout(orientation, {c: codes.index(c) for c in orientation})
    listed = ", ".join(codes) or "none"
    frame = [c for c in vector if c in INSTRUMENT_FRAME]
    if frame:
        why = (
            f"{', '.join(frame)} are instrument (sensor) frame components; they must be rotated into the "
            "geomagnetic or geographic frame with the observatory's orientation and baselines before use"
        )
    else:
        why = "these components do not form a supported vector orientation"
    raise UnsupportedComponentsError(f"{name}: components {listed}: {why}; this service needs {NEEDED}")


def to_h_east_z(
    layout: VectorLayout, columns: Mapping[str, np.ndarray], d_to_rad: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Counter]:
    """(H, D as the east component in nT, Z, counts of values set missing as unphysical).

    ``columns`` maps each element of the layout to its values; ``d_to_rad`` converts a D angle to radians.
    """
    counts: Counter = Counter()
    c = {}
    for element in layout.orientation:
        limit = MAX_DECLINATION_DEG * DEG_TO_RAD / d_to_rad if element == "D" else MAX_FIELD_NT
        c[element] = mask_unphysical(np.array(columns[element], dtype=np.float64), limit, counts)
    if layout.orientation == "HDZ":
        h, d = c["H"], c["H"] * np.sin(c["D"] * d_to_rad)
    elif layout.orientation == "XYZ":
        h, d = np.hypot(c["X"], c["Y"]), c["Y"]
    else:  # HEZ: E is already the east component in nT
        h, d = c["H"], c["E"]
    return h, d, c["Z"], counts


def vector_series(
    source_format: str, station: str, layout: VectorLayout, gridded: tuple[datetime, float, np.ndarray],
    d_to_rad: float, latitude: float | None = None, longitude: float | None = None,
) -> StationSeries:
    """The StationSeries of gridded element columns (in ``layout.orientation`` order)."""
    start, interval, values = gridded
    h, d, z, masked = to_h_east_z(layout, dict(zip(layout.orientation, values.T)), d_to_rad)
    return StationSeries(
        station=station, start=start, sampling_interval_s=interval, h=h, d=d, z=z, source_format=source_format,
        latitude=latitude, longitude=longitude, masked_samples=dict(masked),
    )
