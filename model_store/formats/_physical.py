"""The physical range of a geomagnetic value: anything beyond it is a missing sample, and counted."""

from __future__ import annotations

from collections import Counter

import numpy as np

# |B| is below about 67,000 nT anywhere on Earth; a component beyond 100,000 nT is not a measurement.
MAX_FIELD_NT = 100_000.0
# Declination is an angle in (-180, 180] degrees.
MAX_DECLINATION_DEG = 180.0

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
