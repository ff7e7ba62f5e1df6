"""Place timestamped rows on a regular time grid (text formats may skip rows)."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from ..errors import CorruptFileError

# One month of 1-Hz samples: longer spans in one upload are refused rather than allocated.
MAX_GRID_SAMPLES = 31 * 86_400


def regular_grid(times: list[datetime], name: str) -> tuple[datetime, float, np.ndarray]:
    """Return (start, sample interval in s, each row's index on the grid); gaps become NaN later."""
    start = times[0]
    offsets = np.array([(t - start).total_seconds() for t in times])
    if len(offsets) == 1:
        raise CorruptFileError(f"{name}: a single data row has no sampling interval")
    steps = np.diff(offsets)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise CorruptFileError(f"{name}: time goes backwards or repeats at {times[k + 1].isoformat()}")
    interval = float(np.min(steps))
    index = np.rint(offsets / interval).astype(np.int64)
    if np.any(np.abs(index * interval - offsets) > 1e-3 * interval):
        raise CorruptFileError(f"{name}: timestamps are not on a regular {interval:g}-second grid")
    if index[-1] + 1 > MAX_GRID_SAMPLES:
        raise CorruptFileError(
            f"{name}: rows span {index[-1] + 1} samples of {interval:g} s; at most {MAX_GRID_SAMPLES} are accepted"
        )
    return start, interval, index
