"""A station's ordinary background as a station-relative input reads it: each power row's level, by time of day.

A station-relative model (``InputSpec.background == "station"``) reads its power panel in dB above this
background (:func:`model_store.spectrogram.relative_power`). It comes from the station's baseline
(:mod:`model_store.baselines`: the row medians of the station's own ordinary windows, by local-time band) or,
for a station without one, from the model's reference: the median of its training stations' backgrounds,
stored in its checkpoint. The rows are those of the model's absolute image (``spec.absolute``), 0 the highest
frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from .input_spec import InputSpec


def local_time_band(start: datetime, window_s: float, longitude: float | None, bands: int) -> int:
    """The local-time band (0 = the one starting at local midnight) of a window's centre."""
    centre = start.timestamp() + window_s / 2
    hours = (centre / 3600 + (longitude or 0.0) / 15.0) % 24.0
    return int(hours // (24.0 / bands)) % bands


@dataclass(frozen=True)
class Background:
    rows_db: np.ndarray  # (local-time bands, 3, H): each power row's median level, dB re 1 nT^2/Hz
    longitude: float | None
    window_s: float
    source: str  # said to the user: "station LUT's baseline (version 2)", "the training stations' median"

    def rows_for(self, start: datetime) -> np.ndarray:
        """(3, H) dB: the background of a window starting at ``start``."""
        return self.rows_db[local_time_band(start, self.window_s, self.longitude, len(self.rows_db))]

    @classmethod
    def from_spectra(cls, spectra: dict[str, Any], spec: InputSpec, longitude: float | None,
                     source: str) -> Background:
        """From a baseline's spectra of ``spec.absolute`` (:func:`model_store.baselines.build_baseline`)."""
        rows = np.asarray(spectra["row_db_median"], dtype=np.float64)
        if rows.shape[1:] != (3, spec.image_height):
            raise ValueError(f"background rows of shape {rows.shape} do not fit a {spec.image_height}-row input")
        return cls(rows, longitude, spec.window_s, source)

    def reference(self) -> dict[str, Any]:
        """The JSON a checkpoint stores (without a longitude: it is applied at each station's own)."""
        return {"row_db_median": np.round(self.rows_db, 2).tolist()}

    @classmethod
    def from_reference(cls, reference: dict[str, Any], spec: InputSpec, longitude: float | None) -> Background:
        return cls.from_spectra(reference, spec, longitude, "the median background of the model's training stations")


def median_background(backgrounds: list[Background]) -> Background:
    """The median, row by row and band by band, of several stations' backgrounds (a model's reference)."""
    rows = np.median(np.stack([b.rows_db for b in backgrounds]), axis=0)
    return Background(rows, None, backgrounds[0].window_s, "the median background of the model's training stations")


__all__ = ["Background", "local_time_band", "median_background"]
