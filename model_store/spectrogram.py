"""The spectrogram pipeline shared by training and serving.

series -> windows (valid-sample fraction, short gaps interpolated, bad windows reported)
       -> log-power spectrogram per channel (fixed dB range, never per-image scaling)
       -> image in [0, 1] of shape (3, H, W), R=H, G=D, B=Z, low frequencies at the bottom
       -> model input (normalised) or PNG (8-bit).

A PNG decoded with :func:`png_to_image` gives the same image as the array route up to 8-bit
quantisation, so a spectrogram saved by the service or the dataset builder predicts the same.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np
from PIL import Image
from scipy import signal

from .errors import ImageTooLargeError, InvalidImageError, NotPngError, UnsupportedSamplingError
from .config import DictConfig
from .series import CHANNELS, StationSeries

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Largest PNG we decode, checked in its header before decoding (decompression-bomb guard): at most
# 4096 pixels per side. Decoding the largest takes about 300 MB at its peak.
MAX_PNG_SIDE = 4096
MAX_PNG_PIXELS = MAX_PNG_SIDE * MAX_PNG_SIDE
# Pillow's modes for PNG colour types: 8-bit ones convert to RGB as they are (alpha is dropped);
# 16-bit colour already arrives as 8-bit RGB(A); 16-bit greyscale is scaled to 8-bit levels here.
_PNG_RGB_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "1")
_PNG_GREY16_MODES = ("I;16", "I;16B", "I;16L", "I")
DB_FLOOR_PSD = 1e-12  # nT^2/Hz added before log10 so empty bins stay finite


@dataclass(frozen=True)
class InputSpec(DictConfig):
    config_name = "InputSpec fields"

    """Everything that turns a station record into a model input; stored in every checkpoint.

    Power is in dB re 1 nT^2/Hz (one-sided PSD), mapped linearly from [db_min, db_max] to [0, 1]
    and clipped: the same absolute scale for every image, so amplitude and the Z/H ratio survive.
    """

    sample_interval_s: float = 1.0
    window_s: int = 6 * 3600
    hop_s: int = 6 * 3600
    stft_window: str = "hann"
    nperseg: int = 256
    noverlap: int = 128
    detrend: str = "linear"
    fmin_hz: float = 0.0
    fmax_hz: float = 0.5
    scaling: str = "psd_db"
    db_min: float = -60.0
    db_max: float = 40.0
    min_valid_fraction: float = 0.9
    max_gap_s: float = 900.0
    image_height: int = 224
    image_width: int = 224
    channels: tuple[str, ...] = CHANNELS
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        problems = []
        if self.sample_interval_s <= 0:
            problems.append("sample_interval_s must be positive")
        if self.window_s < self.nperseg * self.sample_interval_s:
            problems.append("window_s must hold at least one STFT segment")
        if not 0 <= self.noverlap < self.nperseg:
            problems.append("noverlap must be in [0, nperseg)")
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.nyquist_hz + 1e-12:
            problems.append(f"need 0 <= fmin_hz < fmax_hz <= Nyquist ({self.nyquist_hz:g} Hz)")
        if self.db_min >= self.db_max:
            problems.append("db_min must be below db_max")
        if self.detrend not in ("linear", "constant", "none"):
            problems.append(f"unknown detrend {self.detrend!r} (linear, constant, none)")
        if self.scaling != "psd_db":
            problems.append(f"unknown scaling {self.scaling!r} (supported: psd_db)")
        if not set(self.channels) <= set(CHANNELS) or len(self.channels) != 3:
            problems.append(f"channels must be three of {CHANNELS}")
        if len(self.mean) != len(self.channels) or len(self.std) != len(self.channels):
            problems.append("mean and std need one value per channel")
        if not 0 < self.min_valid_fraction <= 1:
            problems.append("min_valid_fraction must be in (0, 1]")
        if problems:
            raise ValueError("invalid InputSpec: " + "; ".join(problems))

    @property
    def nyquist_hz(self) -> float:
        return 0.5 / self.sample_interval_s

    @property
    def samples_per_window(self) -> int:
        return int(round(self.window_s / self.sample_interval_s))

    @property
    def in_chans(self) -> int:
        return len(self.channels)

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.image_height, self.image_width)


# ---------------------------------------------------------------- resampling
def conform_sampling(series: StationSeries, spec: InputSpec) -> StationSeries:
    """Return ``series`` at the spec's sample interval, or refuse if it is sampled too slowly.

    Faster data is decimated with a zero-phase anti-alias FIR (polyphase); samples whose
    neighbourhood had missing data stay missing.
    """
    dt, target = series.sampling_interval_s, spec.sample_interval_s
    if math.isclose(dt, target, rel_tol=1e-6):
        return series
    if dt > target:
        raise UnsupportedSamplingError(
            f"data sampled every {dt:g} s (Nyquist {0.5 / dt:g} Hz) cannot support this model's input, "
            f"which needs samples every {target:g} s for frequencies up to {spec.fmax_hz:g} Hz"
        )
    ratio = Fraction(target / dt).limit_denominator(1000)
    up, down = ratio.denominator, ratio.numerator
    missing = series.missing_mask()
    channels = []
    for x in series.stacked():
        y = signal.resample_poly(_interpolate_gaps(x), up, down)
        channels.append(y)
    # A decimated sample is missing if any input sample in its span was missing.
    n_out = len(channels[0])
    span = np.minimum((np.arange(n_out + 1) * down) // up, len(missing))
    counts = np.add.reduceat(np.r_[missing, False].astype(np.int64), span[:-1]) if n_out else np.array([])
    bad = counts > 0
    for y in channels:
        y[bad] = np.nan
    return StationSeries(
        station=series.station,
        start=series.start,
        sampling_interval_s=target,
        h=channels[0],
        d=channels[1],
        z=channels[2],
        source_format=series.source_format,
        latitude=series.latitude,
        longitude=series.longitude,
    )


def _interpolate_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs (edges held at the nearest valid value); all-NaN gives zeros."""
    bad = np.isnan(x)
    if not bad.any():
        return x.astype(np.float64, copy=True)
    if bad.all():
        return np.zeros_like(x, dtype=np.float64)
    idx = np.arange(len(x))
    out = x.astype(np.float64, copy=True)
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


# ---------------------------------------------------------------- windows
@dataclass
class Window:
    """One analysis window. ``data`` is (3, n) with short gaps interpolated, or None if skipped."""

    start: datetime
    end: datetime
    valid_fraction: float
    longest_gap_s: float
    data: np.ndarray | None = field(default=None, repr=False)
    skipped_reason: str | None = None


def cut_windows(series: StationSeries, spec: InputSpec, hop_s: float | None = None) -> list[Window]:
    """Cut full windows of ``spec.window_s`` every ``hop_s`` (default ``spec.hop_s``) from the start.

    The series must already be at the spec's sampling (see :func:`conform_sampling`).
    """
    if not math.isclose(series.sampling_interval_s, spec.sample_interval_s, rel_tol=1e-6):
        raise UnsupportedSamplingError(
            f"series sampled every {series.sampling_interval_s:g} s; conform it to {spec.sample_interval_s:g} s first"
        )
    hop = spec.hop_s if hop_s is None else hop_s
    if hop <= 0:
        raise ValueError("hop must be positive")
    n = spec.samples_per_window
    step = max(1, int(round(hop / spec.sample_interval_s)))
    stacked = series.stacked()
    missing = series.missing_mask()
    windows = []
    for i0 in range(0, series.n_samples - n + 1, step):
        miss = missing[i0 : i0 + n]
        valid = 1.0 - float(miss.mean())
        gap_s = _longest_run(miss) * spec.sample_interval_s
        start = series.start + timedelta(seconds=i0 * spec.sample_interval_s)
        w = Window(start, start + timedelta(seconds=spec.window_s), valid, gap_s)
        if valid < spec.min_valid_fraction:
            w.skipped_reason = (
                f"only {valid:.1%} of samples present; at least {spec.min_valid_fraction:.0%} needed"
            )
        elif gap_s > spec.max_gap_s:
            w.skipped_reason = f"gap of {gap_s:g} s exceeds the {spec.max_gap_s:g} s that may be interpolated"
        else:
            w.data = np.stack([_interpolate_gaps(c) for c in stacked[:, i0 : i0 + n]])
        windows.append(w)
    return windows


# ---------------------------------------------------------------- spectrogram and image
def _detrend_linear(segments: np.ndarray) -> np.ndarray:
    """Remove each segment's least-squares line (same result as scipy's 'linear').

    Written with element-wise sums so that no BLAS call runs here: OpenBLAS worker threads keep
    spinning after a call and, on a 2-core server, slowed the next forward pass by half.
    """
    n = segments.shape[-1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    mean = segments.mean(axis=-1, keepdims=True)
    slope = (segments * t).sum(axis=-1, keepdims=True) / (t * t).sum()
    return segments - mean - slope * t


_DETRENDERS = {"linear": _detrend_linear, "constant": "constant", "none": False}


def spectrogram_db(data: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(channels, n) samples -> (channels, freqs, times) PSD in dB re 1 nT^2/Hz within the spec's band."""
    f, _, p = signal.spectrogram(
        data,
        fs=1.0 / spec.sample_interval_s,
        window=spec.stft_window,
        nperseg=spec.nperseg,
        noverlap=spec.noverlap,
        detrend=_DETRENDERS[spec.detrend],
        scaling="density",
        axis=-1,
    )
    band = (f >= spec.fmin_hz - 1e-12) & (f <= spec.fmax_hz + 1e-12)
    return 10.0 * np.log10(p[:, band, :] + DB_FLOOR_PSD)


def db_to_image(db: np.ndarray, spec: InputSpec) -> np.ndarray:
    """dB spectrogram -> float32 image (3, H, W) in [0, 1], low frequency at the bottom row."""
    scaled = np.clip((db - spec.db_min) / (spec.db_max - spec.db_min), 0.0, 1.0).astype(np.float32)
    scaled = scaled[:, ::-1, :]  # row 0 = highest frequency, as images are drawn
    return np.stack([_resize_plane(plane, spec.image_size) for plane in scaled])


def window_to_image(data: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Window samples (H, D, Z rows) -> image (3, H, W) in [0, 1], channels in spec order."""
    order = [CHANNELS.index(c) for c in spec.channels]
    return db_to_image(spectrogram_db(data[order], spec), spec)


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if plane.shape == size:
        return np.ascontiguousarray(plane, dtype=np.float32)
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    out = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def normalize(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Image in [0, 1] -> model input (float32, per-channel mean/std)."""
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return (image.astype(np.float32) - mean) / std


# ---------------------------------------------------------------- PNG
def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(image: np.ndarray) -> np.ndarray:
    """The image exactly as it reads back from its PNG (8-bit levels), as float32 in [0, 1].

    Training reads PNGs and the service predicts on quantised images, so a spectrogram PNG returned
    by ``/analyze`` and posted to ``/predict`` gives the same input, bit for bit.
    """
    return _to_uint8(image).astype(np.float32) / 255.0


def image_to_png(image: np.ndarray) -> bytes:
    """(3, H, W) float image in [0, 1] -> 8-bit RGB PNG bytes (deterministic)."""
    u8 = _to_uint8(image)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(u8, 0, -1), mode="RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@dataclass(frozen=True)
class DecodedImage:
    image: np.ndarray  # (3, H, W) float32 in [0, 1] at the spec's size
    original_size: tuple[int, int]  # (height, width) as uploaded
    resized: bool


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with; refuses oversized images."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidImageError("PNG could not be decoded: its IHDR header chunk is missing")
    width, height = struct.unpack(">II", data[16:24])
    if width > MAX_PNG_SIDE or height > MAX_PNG_SIDE or width * height > MAX_PNG_PIXELS:
        raise ImageTooLargeError(
            f"PNG is {width}x{height} pixels; this service accepts at most {MAX_PNG_SIDE} pixels per side "
            f"and {MAX_PNG_PIXELS} pixels in all: downscale it"
        )
    return width, height


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB levels of a decoded PNG, whatever its colour type and bit depth."""
    if img.mode == "RGB":
        return img
    if img.mode in _PNG_RGB_MODES:
        return img.convert("RGB")
    if img.mode in _PNG_GREY16_MODES:
        grey = np.asarray(img).astype(np.uint32)
        levels = (grey * 2 + 257) // 514  # round(v / 257): 65535 -> 255, 257 * k -> k
        return Image.fromarray(np.clip(levels, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    raise InvalidImageError(
        f"PNG mode {img.mode!r} is not supported; use 8- or 16-bit RGB, RGBA or greyscale"
    )


def png_to_image(data: bytes, spec: InputSpec) -> DecodedImage:
    """Decode an 8- or 16-bit RGB(A)/grey PNG into the spec's image; refuse non-PNG, damaged or oversized input.

    The size is checked in the header before anything is decoded, and a resized image is converted one
    channel at a time, so memory stays bounded. An 8-bit RGB PNG gives exactly its levels / 255.
    """
    if not data.startswith(PNG_MAGIC):
        raise NotPngError("not a PNG file (missing PNG signature); upload a PNG spectrogram")
    width, height = _png_size(data)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            bands = _to_rgb(img).split()
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"PNG could not be decoded: {exc}; upload the complete, undamaged file") from exc
    resized = (height, width) != spec.image_size
    planes = []
    for band in bands:  # one float channel at a time
        plane = np.asarray(band, dtype=np.float32)
        plane /= 255.0
        planes.append(_resize_plane(plane, spec.image_size) if resized else plane)
    return DecodedImage(image=np.stack(planes), original_size=(height, width), resized=resized)
