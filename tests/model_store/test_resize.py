"""Spectrogram planes are resized as Pillow resizes a float image, bit for bit, so images match earlier releases."""

import numpy as np
import pytest
from PIL import Image

from model_store import InputSpec
from model_store.resize import bilinear_taps, resize_bilinear
from model_store.spectrogram import spectrogram_db
from model_store.windows import conform_sampling, cut_windows


def _pillow(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32)


@pytest.mark.parametrize(("shape", "size"), [
    ((65, 83), (64, 64)),  # the served models: shrink both ways
    ((129, 167), (224, 224)),  # enlarge both ways
    ((65, 83), (64, 32)),  # shrink by more than two
    ((10, 7), (64, 64)),
    ((257, 1000), (224, 224)),
    ((64, 83), (64, 64)),  # one direction only
    ((64, 64), (64, 64)),  # nothing to do
])
def test_equals_pillow_bit_for_bit(shape, size):
    rng = np.random.default_rng(sum(shape) + sum(size))
    planes = rng.random((5, *shape)).astype(np.float32) * np.float32(10.0) ** rng.uniform(-3, 3, (5, 1, 1)).astype(np.float32)
    planes[0] = np.round(planes[0] * 255) / 255  # 8-bit levels, as quantised images hold
    expected = np.stack([_pillow(p, size) for p in planes])
    out = resize_bilinear(planes, size)
    assert out.dtype == np.float32 and out.shape == (5, *size)
    np.testing.assert_array_equal(out, expected)


def test_real_spectrogram_planes_equal_pillow(lut_day):
    spec = InputSpec(image_height=64, image_width=64, nperseg=512, noverlap=256, fmax_hz=0.125)
    window = cut_windows(conform_sampling(lut_day, spec), spec)[0]
    db = spectrogram_db(window.data, spec)
    planes = np.clip((db - spec.db_min) / (spec.db_max - spec.db_min), 0, 1).astype(np.float32)[:, ::-1, :]
    assert planes.shape[1:] != spec.image_size
    np.testing.assert_array_equal(resize_bilinear(planes, spec.image_size),
                                  np.stack([_pillow(p, spec.image_size) for p in planes]))


def test_leading_axes_are_independent_planes():
    planes = np.random.default_rng(3).random((2, 3, 40, 50)).astype(np.float32)
    out = resize_bilinear(planes, (32, 32))
    np.testing.assert_array_equal(out[1, 2], resize_bilinear(planes[1, 2], (32, 32)))


def test_taps_are_normalised_triangles():
    index, weight = bilinear_taps(83, 64)
    np.testing.assert_allclose(weight.sum(axis=1), 1.0)
    assert (weight >= 0).all() and index.min() == 0 and index.max() == 82
    index, weight = bilinear_taps(10, 20)  # enlarging: plain linear interpolation between two neighbours
    assert weight.shape[1] == 2
