"""Overlays: a map (a Grad-CAM map, :mod:`model_store.inference.explain`, or the direction finder's evidence)
drawn in colour over a window's power panel, as PNG bytes; and base64 for inlining them in JSON."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered dark-to-bright map (black, purple, red, orange, yellow).
_CMAP_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
) / 255.0
OVERLAY_ALPHA = 0.5


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


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
