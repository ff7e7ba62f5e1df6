"""The non-learned direction finder: the bearing of a polarised source read off the cross-spectral panel.

For a source along bearing t with Z in phase with the horizontal field along t, Re<Z H*> = k|P|^2 cos t
and Re<Z D*> = k|P|^2 sin t, so summing the cross spectra over the emission band gives a vector along t
(magnetic direction finding; Surkov, Molchanov and Hayakawa 2004). The cross-spectral panel stores the
coherency ZH = Re S_ZH / sqrt(S_ZZ (S_HH + S_DD)) (and ZD) and the power panel the PSDs, so the cross
spectra come back as ZH * sqrt(P_Z (P_H + P_D)). It runs on the normalised model input, inside the model,
so the PNG route and the array route give the same bearing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import DictConfig
from .input_spec import InputSpec
from .spectrogram import band_frequencies

# channel order of a cross_spectral input: H, D, Z power, then ZH, ZD, HD coherency
_P_H, _P_D, _P_Z, _ZH, _ZD = 0, 1, 2, 3, 4
N_PHYSICS_FEATURES = 2


@dataclass(frozen=True)
class PhysicsConfig(DictConfig):
    """What the direction finder needs to read a normalised cross_spectral input."""

    config_name = "physics settings"

    db_min: float
    db_max: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    band_rows: tuple[int, int]  # [first, last) image rows inside the direction band (row 0 = highest frequency)


def row_frequencies(spec: InputSpec) -> np.ndarray:
    """Frequency (Hz) at the centre of each image row after the bilinear resize, row 0 at the top."""
    freqs = band_frequencies(spec)[::-1]  # top row = highest frequency
    n, h = len(freqs), spec.image_height
    src = np.clip((np.arange(h) + 0.5) * n / h - 0.5, 0, n - 1)
    return np.interp(src, np.arange(n), freqs)


def physics_config(spec: InputSpec) -> PhysicsConfig | None:
    """The direction finder's settings for a spec, or None if the spec has no cross-spectral panel."""
    if spec.representation != "cross_spectral":
        return None
    lo, hi = spec.direction_band_hz
    # a station-relative power panel spans +-relative_db around the station's background
    relative = spec.background == "station"
    db_min, db_max = (-spec.relative_db, spec.relative_db) if relative else (spec.db_min, spec.db_max)
    rows = np.flatnonzero((row_frequencies(spec) >= lo) & (row_frequencies(spec) <= hi))
    if len(rows) == 0:
        raise ValueError("the direction band covers no image row")
    return PhysicsConfig(db_min, db_max, tuple(spec.mean), tuple(spec.std),
                         (int(rows.min()), int(rows.max()) + 1))


class DirectionFinder(nn.Module):
    """Normalised input (B, 6, H, W) -> the summed cross-spectral vector (B, 2) and quality features (B, 2).

    The vector points along the estimated bearing (x = north, y = east). Features: log10 of its length
    per cell (coherent cross power, nT^2/Hz) and its length over the summed cross-spectral magnitude
    (how consistently the cells agree, 0-1). No parameters: nothing here is learnt.
    """

    def __init__(self, config: PhysicsConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(config.mean, dtype=torch.float32)[None, :, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(config.std, dtype=torch.float32)[None, :, None, None], persistent=False)

    def cell_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Each cell's cross-spectral vector (B, 2, rows, W) over the direction band's rows: (north, east) =
        (Re<Z H*>, Re<Z D*>) in nT^2/Hz, from the normalised input. The bearing is their sum's direction
        (:meth:`forward`) and the evidence map their projection on it (:meth:`evidence`): one decoding."""
        r0, r1 = self.config.band_rows
        img = (x[:, :, r0:r1].float() * self.std + self.mean).clamp(0.0, 1.0)
        span = self.config.db_max - self.config.db_min
        power = torch.pow(10.0, (self.config.db_min + img[:, :3] * span) / 10.0)  # nT^2/Hz
        weight = torch.sqrt(power[:, _P_Z] * (power[:, _P_H] + power[:, _P_D]))
        c, s = 2.0 * img[:, _ZH] - 1.0, 2.0 * img[:, _ZD] - 1.0
        return torch.stack([weight * c, weight * s], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cells = self.cell_vectors(x)
        vector = cells.sum(dim=(2, 3))
        length = vector.norm(dim=1)
        n_cells = cells.shape[2] * cells.shape[3]
        magnitude = cells.norm(dim=1).sum(dim=(1, 2))
        features = torch.stack([torch.log10(length / n_cells + 1e-12), length / (magnitude + 1e-12)], dim=1)
        return vector, features

    def evidence(self, x: torch.Tensor, bearing_deg: torch.Tensor) -> torch.Tensor:
        """Where a bearing comes from: each cell's vector projected on ``bearing_deg`` (B,), negative parts
        dropped, zero outside the direction band; (B, H, W) in nT^2/Hz, the input's size."""
        theta = torch.deg2rad(bearing_deg.to(torch.float32))
        cells = self.cell_vectors(x)
        along = cells[:, 0] * torch.cos(theta)[:, None, None] + cells[:, 1] * torch.sin(theta)[:, None, None]
        out = torch.zeros(x.shape[0], x.shape[2], x.shape[3])
        r0, r1 = self.config.band_rows
        out[:, r0:r1] = torch.relu(along)
        return out


__all__ = ["DirectionFinder", "PhysicsConfig", "physics_config", "row_frequencies",
           "N_PHYSICS_FEATURES"]
