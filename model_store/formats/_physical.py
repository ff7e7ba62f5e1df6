"""Physical ranges: a geomagnetic value beyond its range is a missing sample (counted); coordinates must be degrees."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

logger = logging.getLogger(__name__)

# |B| is below about 67,000 nT anywhere on Earth; a component beyond 100,000 nT is not a measurement.
MAX_FIELD_NT = 100_000.0
# Declination is an angle in (-180, 180] degrees.
MAX_DECLINATION_DEG = 180.0

MAX_LATITUDE_DEG = 90.0
MAX_LONGITUDE_DEG = 180.0

NON_FINITE = "non_finite"
OUT_OF_RANGE = "out_of_range"


def mask_unphysical(x: np.ndarray, limit: float, counts: Counter) -> np.ndarray:
    """Set +-inf and values with ``|x| > limit`` to NaN (in place), adding how many to ``counts``."""
    infinite = np.isinf(x)
    if infinite.any():
        counts[NON_FINITE] += int(infinite.sum())
        x[infinite] = np.nan
    with np.errstate(invalid="ignore"):
        beyond = np.abs(x) > limit
    if beyond.any():
        counts[OUT_OF_RANGE] += int(beyond.sum())
        x[beyond] = np.nan
    return x


def station_coordinates(lat: float | None, lon: float | None, name: str) -> tuple[float | None, float | None]:
    """Latitude in [-90, 90] and longitude in (-180, 180] (east positive), or None for what is not.

    Some real headers carry projected coordinates (metres) in the geodetic fields; those are dropped
    with a warning rather than reported as a position.
    """
    if lat is not None and not (np.isfinite(lat) and -MAX_LATITUDE_DEG <= lat <= MAX_LATITUDE_DEG):
        logger.warning("%s: latitude %r is not in degrees; ignoring it", name, lat)
        lat = None
    if lon is not None and not (np.isfinite(lon) and -MAX_LONGITUDE_DEG <= lon <= 2 * MAX_LONGITUDE_DEG):
        logger.warning("%s: longitude %r is not in degrees; ignoring it", name, lon)
        lon = None
    if lon is not None and lon > MAX_LONGITUDE_DEG:
        lon -= 2 * MAX_LONGITUDE_DEG
    return lat, lon
