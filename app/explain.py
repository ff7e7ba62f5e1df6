"""Grad-CAM maps and their overlays.

The gradient of a class score is taken with respect to the backbone's last-stage feature map with
``torch.autograd.grad`` (only the heads are differentiated; no parameter gradients, no hooks):
weights are the spatially averaged gradients, the map is ReLU(sum_k w_k A_k).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from model_store.direction import PhysicsConfig

# Anchor colours of a perceptually ordered dark-to-bright map (black, purple, red, orange, yellow).
_CMAP_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
) / 255.0
OVERLAY_ALPHA = 0.5


def grad_cam(features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Grad-CAM of ``scores`` (one per sample, summed) w.r.t. ``features`` (B, C, h, w) -> (B, h, w).

    Samples are independent in eval mode, so the gradient of the sum gives each sample its own map.
    """
    (grads,) = torch.autograd.grad(scores.sum(), features, retain_graph=True)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * features).sum(dim=1)).detach()


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of an (h, w) map to ``size`` (H, W), scaled to [0, 1]."""
    img = Image.fromarray(cam.astype(np.float32), mode="F").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    up = np.asarray(img, dtype=np.float32)
    peak = float(up.max())
    return up / peak if peak > 0 else np.zeros_like(up)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] values (H, W) to RGB (H, W, 3) in [0, 1]."""
    pos = np.clip(values, 0.0, 1.0) * (len(_CMAP_ANCHORS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_CMAP_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    return _CMAP_ANCHORS[lo] * (1 - frac) + _CMAP_ANCHORS[lo + 1] * frac


def overlay_png(image: np.ndarray, cam: np.ndarray) -> bytes:
    """Heat map ``cam`` (h, w) over the power panel of ``image`` (C, H, W in [0, 1]) as PNG bytes."""
    height, width = image.shape[1:]
    heat = colormap(upsample(cam, (height, width)))
    base = np.moveaxis(image[:3], 0, -1)
    blended = (1 - OVERLAY_ALPHA) * base + OVERLAY_ALPHA * heat
    buf = io.BytesIO()
    Image.fromarray(np.rint(blended * 255).astype(np.uint8), mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def direction_evidence(image: np.ndarray, physics: PhysicsConfig, bearing_deg: float) -> np.ndarray:
    """Where the direction finder's bearing comes from: each cell's cross spectrum projected on the
    served bearing (positive = supports it), zero outside the direction band; (H, W), not normalised.

    ``image`` is the cross_spectral input in [0, 1] (H, D, Z power, then ZH, ZD, HD coherency).
    """
    span = physics.db_max - physics.db_min
    power = 10.0 ** ((physics.db_min + image[:3].astype(np.float64) * span) / 10.0)
    weight = np.sqrt(power[2] * (power[0] + power[1]))
    c, s = 2.0 * image[3] - 1.0, 2.0 * image[4] - 1.0
    theta = np.radians(bearing_deg)
    evidence = np.zeros(image.shape[1:])
    r0, r1 = physics.band_rows
    evidence[r0:r1] = np.maximum(weight[r0:r1] * (c[r0:r1] * np.cos(theta) + s[r0:r1] * np.sin(theta)), 0.0)
    return evidence


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
