"""Place timestamped rows on a regular time grid, checking order and size while the rows arrive.

Text formats may skip rows (skipped times become missing samples). Limits are checked on every batch,
so an input that is too long is refused as soon as it is seen to be, not after it has all been parsed.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from ..errors import CorruptFileError
from ._times import US_PER_S, to_datetime

# One month of 1-Hz samples: longer spans in one upload are refused rather than allocated.
MAX_GRID_SAMPLES = 31 * 86_400
GRID_TOLERANCE = 1e-3  # of the interval


class RowGrid:
    """Collect batches of (time in microseconds since 1970 UTC, values) in file order."""

    def __init__(self, name: str, n_values: int, unit: str = "line", max_samples: int | None = None) -> None:
        self.name = name
        self.unit = unit
        self.n_values = n_values
        self.max_samples = MAX_GRID_SAMPLES if max_samples is None else max_samples
        self._times: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._n = 0
        self._first: int | None = None
        self._last: int | None = None
        self._min_step: int | None = None

    def __len__(self) -> int:
        return self._n

    def add(self, times_us: np.ndarray, values: np.ndarray, where: np.ndarray) -> None:
        """Append rows; ``where[i]`` is row i's line (or record) number, for messages."""
        if not len(times_us):
            return
        times_us = np.asarray(times_us, dtype=np.int64)
        if self._last is None:
            steps, row_of_step = np.diff(times_us), 1  # steps[k] leads to row k + 1
        else:
            steps, row_of_step = np.diff(times_us, prepend=self._last), 0
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            k = int(bad[0]) + row_of_step
            raise CorruptFileError(
                f"{self.name}: {self.unit} {where[k]}: time goes backwards or repeats at "
                f"{to_datetime(times_us[k]).isoformat()}"
            )
        self._n += len(times_us)
        if self._n > self.max_samples:
            raise CorruptFileError(
                f"{self.name}: more than {self.max_samples} rows by {self.unit} {where[-1]}; "
                "at most one month of 1-second samples is accepted"
            )
        if self._first is None:
            self._first = int(times_us[0])
        self._last = int(times_us[-1])
        if steps.size:
            step = int(steps.min())
            self._min_step = step if self._min_step is None else min(self._min_step, step)
            self._check_span(where[-1])
        self._times.append(times_us)
        self._values.append(np.asarray(values, dtype=np.float64).reshape(len(times_us), self.n_values))

    def _check_span(self, where: int) -> None:
        samples = (self._last - self._first) // self._min_step + 1
        if samples > self.max_samples:
            raise CorruptFileError(
                f"{self.name}: by {self.unit} {where} the rows span {samples} samples of "
                f"{self._min_step / US_PER_S:g} s; at most {self.max_samples} are accepted"
            )

    def finish(self) -> tuple[datetime, float, np.ndarray]:
        """Return (start, sample interval in s, ``(n_samples, n_values)`` grid with NaN where no row was)."""
        if self._n == 0:
            raise CorruptFileError(f"{self.name}: header but no data rows")
        if self._n == 1:
            raise CorruptFileError(f"{self.name}: a single data row has no sampling interval")
        times = np.concatenate(self._times)
        values = np.concatenate(self._values)
        self._times, self._values = [], []
        offsets = times - times[0]
        interval = self._min_step
        index = (offsets + interval // 2) // interval
        if np.any(np.abs(index * interval - offsets) > GRID_TOLERANCE * interval):
            raise CorruptFileError(
                f"{self.name}: timestamps are not on a regular {interval / US_PER_S:g}-second grid"
            )
        grid = np.full((int(index[-1]) + 1, self.n_values), np.nan)
        grid[index] = values
        return to_datetime(times[0]), interval / US_PER_S, grid


def place_segments(
    segments: list[tuple[int, int, np.ndarray]], interval_us: int, n_values: int, name: str,
    max_samples: int = MAX_GRID_SAMPLES,
) -> tuple[datetime, float, np.ndarray]:
    """Put regularly sampled segments ``(column, start in us since 1970, values)`` on one grid.

    The span is checked before anything is allocated; a segment off the common grid is refused.
    """
    segments = [s for s in segments if len(s[2])]
    if not segments:
        raise CorruptFileError(f"{name}: no samples")
    start = min(s for _, s, _ in segments)
    end = max(s + (len(v) - 1) * interval_us for _, s, v in segments)
    n_samples = (end - start) // interval_us + 1
    if n_samples > max_samples:
        raise CorruptFileError(
            f"{name}: the records span {n_samples} samples of {interval_us / US_PER_S:g} s; "
            f"at most {max_samples} are accepted"
        )
    grid = np.full((n_samples, n_values), np.nan)
    for column, seg_start, values in segments:
        offset = seg_start - start
        k = (offset + interval_us // 2) // interval_us
        if abs(k * interval_us - offset) > GRID_TOLERANCE * interval_us:
            raise CorruptFileError(
                f"{name}: a record starting {to_datetime(seg_start).isoformat()} is off the "
                f"{interval_us / US_PER_S:g}-second grid of the others"
            )
        grid[k : k + len(values), column] = values
    return to_datetime(start), interval_us / US_PER_S, grid
