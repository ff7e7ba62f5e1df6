"""Window samples -> spectrogram image -> model input.

(channels, n) samples -> log-power spectrogram per channel in dB re 1 nT^2/Hz (fixed dB range, never
per-image scaling; a cross-spectral representation adds the coherency panel, :mod:`model_store.cross_spectra`)
-> image in [0, 1] of shape (in_chans, H, W), low frequencies at the bottom -> 8-bit levels (what a PNG holds,
:func:`quantize`) -> model input (:func:`normalize`). The PNG codec is :mod:`model_store.png`.
"""

from __future__ import annotations

import numpy as np

from .cross_spectra import cross_channels, one_sided_psd, stft
from .input_spec import InputSpec
from .resize import resize_bilinear
from .series import CHANNELS

DB_FLOOR_PSD = 1e-12  # nT^2/Hz added before log10 so empty bins stay finite


def _detrend_linear(segments: np.ndarray) -> np.ndarray:
    """Remove each segment's least-squares line (same result as scipy's 'linear').

    Written with element-wise sums so that no BLAS call runs here: OpenBLAS worker threads keep
    spinning after a call and, on a 2-core server, slowed the next forward pass by half.
    """
    n = segments.shape[-1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    mean = segments.mean(axis=-1, keepdims=True)
    slope = np.einsum("...n,n->...", segments, t)[..., None] / (t * t).sum()  # einsum's own loop: no BLAS, no temporary
    return segments - mean - slope * t


_DETRENDERS = {"linear": _detrend_linear, "constant": "constant", "none": False}


def _band(freqs: np.ndarray, spec: InputSpec) -> np.ndarray:
    return (freqs >= spec.fmin_hz - 1e-12) & (freqs <= spec.fmax_hz + 1e-12)


def window_stft(data: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, STFT of each row) of window samples as the spec makes them (window, segments, detrend)."""
    return stft(data, fs=1.0 / spec.sample_interval_s, window=spec.stft_window, nperseg=spec.nperseg,
                noverlap=spec.noverlap, detrend=_DETRENDERS[spec.detrend])


def band_frequencies(spec: InputSpec) -> np.ndarray:
    """Frequencies (Hz) of the spectrogram rows before resizing, lowest first."""
    f = np.fft.rfftfreq(spec.nperseg, spec.sample_interval_s)
    return f[_band(f, spec)]


def spectrogram_db(data: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(channels, n) samples -> (channels, freqs, times) PSD in dB re 1 nT^2/Hz within the spec's band."""
    f, x = window_stft(data, spec)
    return 10.0 * np.log10(one_sided_psd(x, spec.nperseg)[:, _band(f, spec), :] + DB_FLOOR_PSD)


def _db_to_unit(db: np.ndarray, spec: InputSpec) -> np.ndarray:
    return np.clip((db - spec.db_min) / (spec.db_max - spec.db_min), 0.0, 1.0).astype(np.float32)


def _planes_to_image(planes: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(..., C, freqs, times) in [0, 1] -> (..., C, H, W) at the spec's size, row 0 = highest frequency
    (each plane resized as Pillow's bilinear resize of a float image, :mod:`model_store.resize`)."""
    return np.clip(resize_bilinear(planes[..., ::-1, :], spec.image_size), 0.0, 1.0)


def db_to_image(db: np.ndarray, spec: InputSpec) -> np.ndarray:
    """dB spectrogram -> float32 image (3, H, W) in [0, 1], low frequency at the bottom row."""
    return _planes_to_image(_db_to_unit(db, spec), spec)


def window_to_image(data: np.ndarray, spec: InputSpec, background_db: np.ndarray | None = None) -> np.ndarray:
    """Window samples (H, D, Z rows) -> image (in_chans, H, W) in [0, 1], channels in spec order.

    A station-relative spec (``background = "station"``) needs ``background_db``: the station's ordinary power
    per image row, (3, H) dB, for this window's time of day (:class:`model_store.background.Background`)."""
    if spec.background == "station":
        if background_db is None:
            raise ValueError("a station-relative input needs the station's background (background_db)")
        return relative_power(window_to_image(data, spec.absolute), spec, background_db)
    if spec.representation == "power":
        order = [CHANNELS.index(c) for c in spec.channels]
        return db_to_image(spectrogram_db(data[order], spec), spec)
    f, x = window_stft(data, spec)
    band = _band(f, spec)
    power_db = 10.0 * np.log10(one_sided_psd(x[:, band], spec.nperseg) + DB_FLOOR_PSD)
    coherency = cross_channels(f, x, spec.nperseg, band, spec.induction_band_hz, spec.smoothing_bins)
    planes = np.concatenate([_db_to_unit(power_db, spec), ((coherency + 1.0) / 2.0).astype(np.float32)])
    return _planes_to_image(planes, spec)


def relative_power(image: np.ndarray, spec: InputSpec, background_db: np.ndarray) -> np.ndarray:
    """An absolute image with its power panel re-expressed relative to ``background_db`` ((3, H) dB per row):
    dB above the background, mapped from [-relative_db, +relative_db] to [0, 1]."""
    span = spec.db_max - spec.db_min
    db = spec.db_min + image[:3].astype(np.float64) * span
    relative = (db - np.asarray(background_db, dtype=np.float64)[:, :, None] + spec.relative_db) / (2 * spec.relative_db)
    out = image.astype(np.float32, copy=True)
    out[:3] = np.clip(relative, 0.0, 1.0)
    return out


def normalize(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Image in [0, 1] -> model input (float32, per-channel mean/std)."""
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    out = image.astype(np.float32)  # one copy, then in place: the caller's image is left as it was
    out -= mean
    out /= std
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(image: np.ndarray) -> np.ndarray:
    """The image exactly as it reads back from its PNG (8-bit levels), as float32 in [0, 1].

    Training reads PNGs and the service predicts on quantised images, so a spectrogram PNG returned
    by ``/analyze`` and posted to ``/predict`` gives the same input, bit for bit.
    """
    return to_uint8(image).astype(np.float32) / 255.0
