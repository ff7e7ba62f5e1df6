"""Bilinear resizing of float planes, value for value Pillow's ``Image.resize(..., BILINEAR)`` of a mode "F" image.

Spectrogram planes were always resized with Pillow; doing it one plane at a time cost more in making Pillow
images and reading them back than in resizing (about 0.27 ms a plane, against 0.05 ms in Pillow's C loop).
Here every plane of a stack is resized at once with numpy, with Pillow's arithmetic: the same
coefficients (``precompute_coeffs`` in Pillow's ``Resample.c``: a triangle filter widened by the
scale when shrinking, normalised to sum to one), products and sums in double precision in the same
order, the horizontal pass first and stored as float32, then the vertical pass, stored as float32. So
the images are bit for bit those of earlier releases (tests compare against Pillow on many shapes).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

BILINEAR_SUPPORT = 1.0  # Pillow's triangle filter reaches one input pixel either side (times the scale)


@lru_cache(maxsize=64)
def bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel, the input pixels it reads and their weights, as Pillow computes them:
    ``(index, weight)``, both (out_size, taps). Unused taps have weight 0 (adding 0.0 changes no sum)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = BILINEAR_SUPPORT * filterscale
    ss = 1.0 / filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    index = np.zeros((out_size, ksize), dtype=np.intp)
    weight = np.zeros((out_size, ksize), dtype=np.float64)
    used = 1
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # int() truncates toward zero, as C's cast does
        count = min(int(center + support + 0.5), in_size) - xmin
        taps = [max(0.0, 1.0 - abs((x + xmin - center + 0.5) * ss)) for x in range(count)]
        total = 0.0
        for w in taps:  # summed in order, as Pillow does
            total += w
        if total != 0.0:
            taps = [w / total for w in taps]
        index[xx, :count] = np.arange(xmin, xmin + count)
        index[xx, count:] = xmin
        weight[xx, :count] = taps
        used = max(used, max((i + 1 for i, w in enumerate(taps) if w != 0.0), default=1))
    index, weight = index[:, :used].copy(), weight[:, :used].copy()
    index.flags.writeable = weight.flags.writeable = False
    return index, weight


def _resample_axis(planes: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One of Pillow's two passes along ``axis`` (-1: rows, horizontal; -2: columns, vertical)."""
    index, weight = bilinear_taps(planes.shape[axis], out_size)
    x = planes.astype(np.float64)  # Pillow multiplies each float32 pixel by a double weight
    if axis == -1:
        acc = x[..., index[:, 0]] * weight[:, 0]
        for k in range(1, index.shape[1]):
            acc += x[..., index[:, k]] * weight[:, k]
    else:
        acc = x[..., index[:, 0], :] * weight[:, 0, None]
        for k in range(1, index.shape[1]):
            acc += x[..., index[:, k], :] * weight[:, k, None]
    return acc.astype(np.float32)


def resize_bilinear(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., h, w) float planes -> (..., H, W) float32 for ``size`` = (H, W), as Pillow's BILINEAR resize of
    each plane as a mode "F" image."""
    height, width = size
    out = np.asarray(planes, dtype=np.float32)
    if out.shape[-1] != width:
        out = _resample_axis(out, width, -1)
    if out.shape[-2] != height:
        out = _resample_axis(out, height, -2)
    return np.ascontiguousarray(out)


__all__ = ["bilinear_taps", "resize_bilinear"]
