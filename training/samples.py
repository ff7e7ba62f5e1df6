"""Samples in memory, targets, and augmentations that respect what a spectrogram means.

Images are (C, F, T): frequency on rows (low at the bottom), time on columns, absolute dB scale.
Physically sensible augmentations: a circular time shift (the window could have started earlier),
time and frequency masking (gaps, narrow-band interference), and gain jitter (a sensor gain error
shifts every bin by the same number of dB). The reference study's flips, rotations and colour jitter
are available by name for comparison but reverse time or frequency or break the fixed scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from model_store import InputSpec
from model_store.png import png_planes, read_png
from model_store.spectrogram import normalize

PHYSICAL_AUGMENTATIONS = ("time_shift", "time_mask", "freq_mask", "gain")
SEED_STUDY_AUGMENTATIONS = ("hflip", "rotate", "color_jitter", "translate", "random_erasing")
POWER_CHANNELS = 3  # the dB channels (H, D, Z power); cross-spectral coherency is gain-free


@dataclass
class SampleSet:
    """Decoded images (uint8, N x C x H x W) with their targets and metadata rows.

    ``magnitude`` and ``azimuth`` are indices of the served classes (Normal last); ``bearing`` is the
    station-to-epicentre bearing in degrees for event windows and NaN for Normal ones.
    """

    images: np.ndarray
    magnitude: np.ndarray
    azimuth: np.ndarray
    rows: list[dict[str, str]]
    bearing: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bearing is None:
            self.bearing = np.array([float(r["bearing_deg"]) if r.get("bearing_deg") else np.nan for r in self.rows])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def is_event(self) -> np.ndarray:
        return np.array([r["kind"] == "event" for r in self.rows], dtype=bool)

    def subset(self, index: Sequence[int]) -> SampleSet:
        idx = np.asarray(index, dtype=int)
        return SampleSet(self.images[idx], self.magnitude[idx], self.azimuth[idx], [self.rows[i] for i in idx],
                         self.bearing[idx])


def load_samples(dataset_dir: str | Path, rows: list[dict[str, str]], tasks: dict[str, tuple[str, ...]],
                 spec: InputSpec, representation: str) -> SampleSet:
    """Read every row's PNG of one representation (``spectrograms/<representation>/``) with the spec's layout."""
    base = Path(dataset_dir) / "spectrograms" / representation
    images = np.stack([png_planes(read_png((base / r["png"]).read_bytes()), spec) for r in rows]) if rows else \
        np.zeros((0, spec.in_chans, *spec.image_size), dtype=np.uint8)
    mag = np.array([tasks["magnitude"].index(r["magnitude_class"]) for r in rows], dtype=np.int64)
    az = np.array([tasks["azimuth"].index(r["azimuth_class"]) for r in rows], dtype=np.int64)
    return SampleSet(images, mag, az, rows)


def inverse_frequency_weights(targets: np.ndarray, n_classes: int) -> torch.Tensor:
    """Weights n / (k * count) for present classes, as in sklearn's 'balanced'.

    Classes absent from the training side get weight 1 (they do not affect training, and validation
    losses stay defined when such a class appears there).
    """
    counts = np.bincount(targets, minlength=n_classes).astype(float)
    present = counts > 0
    w = np.ones(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(w, dtype=torch.float32)


class Augmenter:
    def __init__(self, names: Sequence[str], spec: InputSpec, rng: np.random.Generator) -> None:
        unknown = set(names) - set(PHYSICAL_AUGMENTATIONS) - set(SEED_STUDY_AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: "
                             f"{PHYSICAL_AUGMENTATIONS + SEED_STUDY_AUGMENTATIONS}")
        self.names = tuple(names)
        self.spec = spec
        self.rng = rng

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """One image in [0, 1], (C, H, W) float32 -> augmented copy."""
        x = img.copy()
        r = self.rng
        _, h, w = x.shape
        for name in self.names:
            if name == "time_shift":
                x = np.roll(x, int(r.integers(-w // 4, w // 4 + 1)), axis=2)
            elif name == "time_mask" and r.uniform() < 0.5:
                width = int(r.integers(1, w // 8))
                t0 = int(r.integers(0, w - width))
                x[:, :, t0 : t0 + width] = x.mean(axis=2, keepdims=True)
            elif name == "freq_mask" and r.uniform() < 0.5:
                height = int(r.integers(1, h // 10))
                f0 = int(r.integers(0, h - height))
                x[:, f0 : f0 + height, :] = x.mean(axis=1, keepdims=True)
            elif name == "gain":
                db = r.normal(0, 2.0)  # sensor gain error of a few dB, same for all bins of the power panel
                x[:POWER_CHANNELS] = x[:POWER_CHANNELS] + db / (self.spec.db_max - self.spec.db_min)
            elif name == "hflip" and r.uniform() < 0.5:
                x = x[:, :, ::-1]
            elif name == "rotate":
                angle = r.uniform(-15, 15)
                x = np.stack([np.asarray(Image.fromarray(c, mode="F").rotate(angle)) for c in x])
            elif name == "color_jitter":
                x = (x - 0.5) * r.uniform(0.8, 1.2) + 0.5 + r.uniform(-0.2, 0.2) * 0.5
            elif name == "translate":
                x = np.roll(x, (int(r.integers(-h // 10, h // 10 + 1)), int(r.integers(-w // 10, w // 10 + 1))), axis=(1, 2))
            elif name == "random_erasing" and r.uniform() < 0.1:
                eh, ew = int(r.integers(h // 8, h // 3)), int(r.integers(w // 8, w // 3))
                y0, x0 = int(r.integers(0, h - eh)), int(r.integers(0, w - ew))
                x[:, y0 : y0 + eh, x0 : x0 + ew] = r.uniform(0, 1)
        return np.clip(x, 0.0, 1.0).astype(np.float32)


def to_batch(images_u8: np.ndarray, spec: InputSpec, augmenter: Augmenter | None = None) -> torch.Tensor:
    out = []
    for img in images_u8:
        x = img.astype(np.float32) / 255.0
        if augmenter is not None:
            x = augmenter(x)
        out.append(normalize(x, spec))
    return torch.from_numpy(np.stack(out))
