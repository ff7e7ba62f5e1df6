"""The in-memory form every station reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

CHANNELS = ("H", "D", "Z")


@dataclass(frozen=True)
class StationSeries:
    """A regularly sampled three-component magnetometer record.

    ``h``, ``d`` and ``z`` are float64 arrays of equal length in nT, NaN where a sample is missing.
    ``d`` is the east (declination-direction) component in nT: readers convert angles to nT
    (``D_nT = H * sin(D)``) and use ``Y`` for XYZ data. Sample ``i`` is at ``start + i * interval``
    (UTC). ``aux`` holds any extra channels the format carries (tilt, temperatures) on the same time base.
    ``masked_samples`` counts, by reason, the values the file gave that the reader set to missing:
    ``non_finite`` (``inf``) and ``out_of_range`` (beyond the physical range, e.g. ``|B| > 100,000 nT``).
    Values the file itself marks missing (empty cells, ``nan``, 99999, fill values, gaps) are not counted.
    """

    station: str
    start: datetime
    sampling_interval_s: float
    h: np.ndarray
    d: np.ndarray
    z: np.ndarray
    source_format: str
    latitude: float | None = None
    longitude: float | None = None
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    masked_samples: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.h)
        if len(self.d) != n or len(self.z) != n:
            raise ValueError("H, D and Z must have the same length")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if not self.sampling_interval_s > 0:
            raise ValueError("sampling interval must be positive")

    @property
    def n_samples(self) -> int:
        return len(self.h)

    @property
    def end(self) -> datetime:
        """Time just after the last sample (half-open interval)."""
        return self.start + timedelta(seconds=self.n_samples * self.sampling_interval_s)

    def channel(self, name: str) -> np.ndarray:
        return {"H": self.h, "D": self.d, "Z": self.z}[name]

    def stacked(self) -> np.ndarray:
        """Channels as a ``(3, n)`` array in H, D, Z order."""
        return np.stack([self.h, self.d, self.z])

    def missing_mask(self) -> np.ndarray:
        """True where any of H, D, Z is missing."""
        return np.isnan(self.h) | np.isnan(self.d) | np.isnan(self.z)
