"""The direction-aware representation: cross-spectral channels, the direction finder, the two-panel PNG."""

import numpy as np
import pytest
import torch

from model_store import InputSpec, LayoutMismatchError
from model_store.compass import vector_bearing_deg
from model_store.direction import DirectionFinder, physics_config
from model_store.png import PNG_TEXT_KEY, image_to_png, layout_fit, png_to_image, read_png
from model_store.spectrogram import normalize, quantize, window_to_image
from model_store.windows import cut_windows

CROSS = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125,
                  image_height=64, image_width=64)


def _emission(n: int, band=(0.02, 0.05), seed: int = 0) -> np.ndarray:
    """Unit-variance noise confined to ``band`` (1-Hz samples)."""
    rng = np.random.default_rng(seed)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n)
    spectrum[(f < band[0]) | (f > band[1])] = 0
    x = np.fft.irfft(spectrum, n)
    return x / x.std()


def _with_source(background: np.ndarray, bearing: float, amplitude: float, zh: float) -> np.ndarray:
    """A field linearly polarised along ``bearing`` with Z = zh * p in phase, added to a real window."""
    p = amplitude * _emission(background.shape[1])
    th = np.radians(bearing)
    return background + np.stack([p * np.cos(th), p * np.sin(th), zh * p])


def _finder_bearing(data: np.ndarray) -> float:
    image = quantize(window_to_image(data, CROSS))  # exactly what a PNG holds
    x = torch.from_numpy(normalize(image, CROSS)[None])
    vector, _ = DirectionFinder(physics_config(CROSS))(x)
    return float(vector_bearing_deg(vector[..., 0], vector[..., 1])[0])


def _angle(a: float, b: float) -> float:
    d = abs(a - b) % 360
    return min(d, 360 - d)


@pytest.fixture(scope="module")
def background(lut_day):
    return cut_windows(lut_day, CROSS)[0].data  # a real quiet LUT window


@pytest.mark.parametrize("bearing", [20.0, 135.0, 250.0, 330.0])
def test_a_polarised_source_with_z_in_phase_points_to_its_bearing(background, bearing):
    assert _angle(_finder_bearing(_with_source(background, bearing, 1.0, 1.5)), bearing) < 10


def test_flipping_the_sign_of_z_turns_the_bearing_by_180_degrees(background):
    ahead = _finder_bearing(_with_source(background, 60.0, 1.0, 1.5))
    behind = _finder_bearing(_with_source(background, 60.0, 1.0, -1.5))
    assert _angle(ahead, 60.0) < 10 and _angle(behind, 240.0) < 10


def test_coherency_channels_carry_cos_and_sin_of_the_bearing(background):
    bearing = 120.0
    img = window_to_image(_with_source(background, bearing, 2.0, 1.5), CROSS)
    r0, r1 = physics_config(CROSS).band_rows
    rows = slice(r0 + (r1 - r0) // 2, r1)  # the lower half of the band holds the 0.02-0.05 Hz source
    zh, zd = 2 * img[3, rows].mean() - 1, 2 * img[4, rows].mean() - 1
    assert np.degrees(np.arctan2(zd, zh)) % 360 == pytest.approx(bearing, abs=12)
    # a power spectrogram cannot tell: its channels are the same for a source and one in the opposite
    # direction, while the coherency channels turn around
    quiet = np.zeros_like(background)
    source, mirror = _with_source(quiet, bearing, 2.0, 1.5), _with_source(quiet, (bearing + 180) % 360, 2.0, 1.5)
    a, b = window_to_image(source, CROSS), window_to_image(mirror, CROSS)
    np.testing.assert_allclose(a[:3], b[:3], atol=1e-6)
    np.testing.assert_allclose(a[3:5, rows] - 0.5, -(b[3:5, rows] - 0.5), atol=1e-5)


def test_two_panel_png_round_trips_and_describes_itself(background):
    img = window_to_image(background, CROSS)
    assert img.shape == (6, 64, 64)
    png = image_to_png(img, CROSS)
    decoded_png = read_png(png)
    assert decoded_png.size == CROSS.png_size == (64, 128)
    assert decoded_png.fingerprint == CROSS.fingerprint and PNG_TEXT_KEY in decoded_png.text
    decoded = png_to_image(png, CROSS)
    assert not decoded.resized and np.abs(decoded.image - img).max() <= 0.5 / 255 + 1e-6
    # the same PNG predicts the same bearing as the array route
    vector = DirectionFinder(physics_config(CROSS))(torch.from_numpy(normalize(decoded.image, CROSS)[None]))[0]
    assert _angle(_finder_bearing(background), float(vector_bearing_deg(vector[0, 0], vector[0, 1]))) < 1e-3


def test_layouts_do_not_mix():
    power = InputSpec()
    assert layout_fit((224, 224), power) == "exact" and layout_fit((64, 128), power) is None
    assert layout_fit((64, 128), CROSS) == "exact" and layout_fit((128, 256), CROSS) == "resized"
    assert layout_fit((224, 224), CROSS) is None
    square = image_to_png(np.zeros((3, 64, 64)))
    with pytest.raises(LayoutMismatchError, match="two 64x64 panels"):
        png_to_image(square, CROSS)


def test_a_png_text_chunk_that_is_not_ours_names_no_fingerprint():
    import io

    from PIL import Image, PngImagePlugin

    from model_store.png import read_png

    for text in ("[" * 100_000, '{"fingerprint": "' + "x" * 10_000 + '"}', "not json"):
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_TEXT_KEY, text)
        buf = io.BytesIO()
        Image.new("RGB", (64, 64)).save(buf, format="PNG", pnginfo=info)
        assert read_png(buf.getvalue()).fingerprint is None


@pytest.mark.parametrize("nperseg,noverlap,detrend", [(256, 128, "linear"), (512, 0, "constant"), (300, 299, "none")])
@pytest.mark.parametrize("window", ["hann", "hamming"])
def test_the_numpy_stft_equals_scipys_spectrogram(nperseg, noverlap, detrend, window):
    """Serving computes the STFT without scipy.signal (it holds ~60 MB of the process); training's
    reference is scipy's spectrogram, which the models were trained on."""
    from scipy import signal

    from model_store.cross_spectra import stft
    from model_store.spectrogram import _DETRENDERS

    data = np.random.default_rng(3).standard_normal((3, 4000)) * 40 + 30_000
    f, _, expected = signal.spectrogram(data, fs=2.0, window=window, nperseg=nperseg, noverlap=noverlap,
                                        detrend=_DETRENDERS[detrend], scaling="density", mode="complex", axis=-1)
    freqs, x = stft(data, 2.0, window, nperseg, noverlap, _DETRENDERS[detrend])
    assert x.shape == expected.shape
    np.testing.assert_allclose(freqs, f)
    assert np.abs(x - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.parametrize("size", [(3, 3), (2, 4), (1, 5), (6, 1)])
def test_the_numpy_smoothing_equals_scipys_uniform_filter(size):
    from scipy.ndimage import uniform_filter as scipy_uniform_filter

    from model_store.cross_spectra import uniform_filter

    values = np.random.default_rng(4).standard_normal((45, 80))
    np.testing.assert_allclose(uniform_filter(values, size), scipy_uniform_filter(values, size=size, mode="nearest"),
                               atol=1e-12)


def test_serving_does_not_import_scipy_signal():
    """scipy.signal is imported only to resample off-rate data or for a window other than Hann."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, app.main\n"
            "from model_store import InputSpec\n"
            "from model_store.spectrogram import window_to_image\n"
            "spec = InputSpec(representation='cross_spectral', nperseg=512, noverlap=256, fmax_hz=0.125,"
            " image_height=64, image_width=64)\n"
            "window_to_image(np.random.default_rng(0).standard_normal((3, spec.window_s)), spec)\n"
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_linear_detrend_equals_scipys():
    from scipy import signal

    from model_store.spectrogram import _detrend_linear

    data = np.random.default_rng(5).standard_normal((3, 5000)) * 30 + np.linspace(0, 400, 5000)
    segments = np.lib.stride_tricks.sliding_window_view(data, 512, axis=-1)[..., ::256, :]
    np.testing.assert_allclose(_detrend_linear(segments), signal.detrend(segments, type="linear", axis=-1), atol=1e-9)


def test_the_bearing_and_its_evidence_map_come_from_the_same_cells(background):
    """The overlay that shows where the bearing comes from (DirectionFinder.evidence) and the bearing itself
    (DirectionFinder.forward) decode the same per-cell vectors: they cannot disagree."""
    finder = DirectionFinder(physics_config(CROSS))
    image = quantize(window_to_image(_with_source(background, 135.0, 1.0, 1.5), CROSS))
    x = torch.from_numpy(normalize(image, CROSS)[None])
    vector, _ = finder(x)
    cells = finder.cell_vectors(x)
    assert torch.allclose(cells.sum(dim=(2, 3)), vector, rtol=1e-5)
    bearing = vector_bearing_deg(vector[:, 0], vector[:, 1])
    evidence = finder.evidence(x, bearing)
    r0, r1 = finder.config.band_rows
    theta = torch.deg2rad(bearing)[:, None, None]
    along = cells[:, 0] * torch.cos(theta) + cells[:, 1] * torch.sin(theta)
    assert torch.allclose(evidence[:, r0:r1], along.clamp(min=0), rtol=1e-5)
    assert (evidence[:, :r0] == 0).all() and (evidence[:, r1:] == 0).all() and evidence.shape == (1, 64, 64)
    # the cells support the bearing they sum to far more than its opposite
    assert evidence.sum() > 5 * finder.evidence(x, bearing + 180.0).sum()
