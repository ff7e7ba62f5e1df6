"""Compass geometry: the eight azimuth sectors and the bearing of a (north, east) vector.

Bearings are degrees clockwise from north in [0, 360). The sectors are 45 degrees wide and centred on the
compass points, N covering [337.5, 22.5), in the order of ``labels.AZIMUTH_CLASSES``. (The bearing from one
point on the Earth to another is geodesy, not this: ``model_store.geodesy``.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_SECTORS = 8
SECTOR_WIDTH_DEG = 360.0 / N_SECTORS


def vector_bearing_deg(north: Any, east: Any) -> Any:
    """Bearing of vectors given by their north and east components: floats, numpy arrays or torch tensors
    (computed with torch, keeping the graph, for tensors)."""
    if type(north).__module__.split(".")[0] == "torch":
        import torch

        return torch.rad2deg(torch.atan2(east, north)) % 360.0
    return np.degrees(np.arctan2(east, north)) % 360.0


def sector_index(bearing_deg: Any) -> Any:
    """The sector (0 = N, 1 = NE, ... 7 = NW) of each bearing: an int for a number, an int array for an array."""
    index = (np.floor((np.asarray(bearing_deg, dtype=np.float64) % 360.0 + SECTOR_WIDTH_DEG / 2) / SECTOR_WIDTH_DEG)
             .astype(np.int64) % N_SECTORS)
    return int(index) if index.ndim == 0 else index


def sector_centre_deg(index: Any) -> Any:
    """The bearing at the centre of sector ``index`` (0 = N: 0 degrees)."""
    return np.asarray(index) * SECTOR_WIDTH_DEG if np.ndim(index) else float(index) * SECTOR_WIDTH_DEG


__all__ = ["N_SECTORS", "SECTOR_WIDTH_DEG", "sector_centre_deg", "sector_index", "vector_bearing_deg"]
