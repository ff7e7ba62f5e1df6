"""The spectrogram pipeline shared by training and serving.

series -> windows (valid-sample fraction, short gaps interpolated, bad windows reported)
       -> log-power spectrogram per channel (fixed dB range, never per-image scaling)
       -> image in [0, 1] of shape (3, H, W), R=H, G=D, B=Z, low frequencies at the bottom
       -> model input (normalised) or PNG (8-bit).

A PNG decoded with :func:`png_to_image` gives the same image as the array route up to 8-bit
quantisation, so a spectrogram saved by the service or the dataset builder predicts the same.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np
from PIL import Image, PngImagePlugin

from .config import DictConfig
from .cross_spectra import CROSS_CHANNELS, cross_channels, one_sided_psd, stft
from .errors import ImageTooLargeError, InvalidImageError, LayoutMismatchError, NotPngError, UnsupportedSamplingError
from .resize import resize_bilinear
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


REPRESENTATIONS = ("power", "cross_spectral")
PANEL_CHANNELS = 3  # one RGB panel of the PNG holds three channels


@dataclass(frozen=True)
class InputSpec(DictConfig):
    config_name = "InputSpec fields"

    """Everything that turns a station record into a model input; stored in every checkpoint.

    Power is in dB re 1 nT^2/Hz (one-sided PSD), mapped linearly from [db_min, db_max] to [0, 1]
    and clipped: the same absolute scale for every image, so amplitude and the Z/H ratio survive.

    ``representation``: ``power`` is the reference study's image (R=H, G=D, B=Z power);
    ``cross_spectral`` adds a second panel from the same STFT (see :mod:`model_store.cross_spectra`):
    R = Re<Z H*> and G = Re<Z D*> coherency, B = Re<H D*> polarisation (0.5 = none), so the bearing of
    a polarised source survives, not only its mirror images. The PNG holds the panels side
    by side (power left), each ``image_width`` wide.
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
    mean: tuple[float, ...] = ()  # per input channel; empty = 0.5 for every channel
    std: tuple[float, ...] = ()  # per input channel; empty = 0.5 for every channel
    representation: str = "power"
    induction_band_hz: tuple[float, float] | None = None  # cross_spectral: remove Z = A H + B D fitted here
    direction_band_hz: tuple[float, float] = (0.01, 0.1)  # cross_spectral: where bearings are estimated
    smoothing_bins: tuple[int, int] = (3, 3)  # cross_spectral: frequency bins x time segments

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            if not getattr(self, name):
                object.__setattr__(self, name, (0.5,) * self.in_chans)
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
        if self.representation not in REPRESENTATIONS:
            problems.append(f"unknown representation {self.representation!r} ({', '.join(REPRESENTATIONS)})")
        if not set(self.channels) <= set(CHANNELS) or len(self.channels) != 3:
            problems.append(f"channels must be three of {CHANNELS}")
        if self.representation == "cross_spectral":
            if tuple(self.channels) != CHANNELS:
                problems.append(f"cross_spectral needs channels {CHANNELS} in that order")
            pairs = {"direction_band_hz": self.direction_band_hz, "smoothing_bins": self.smoothing_bins,
                     "induction_band_hz": self.induction_band_hz or (1.0, 2.0)}
            if any(len(v) != 2 for v in pairs.values()):
                problems.append(f"{', '.join(k for k, v in pairs.items() if len(v) != 2)} must be pairs")
            else:
                lo, hi = self.direction_band_hz
                if not self.fmin_hz <= lo < hi <= self.fmax_hz:
                    problems.append("direction_band_hz must lie inside [fmin_hz, fmax_hz]")
                if self.induction_band_hz is not None and not 0 < self.induction_band_hz[0] < self.induction_band_hz[1]:
                    problems.append("induction_band_hz must be (low, high) with 0 < low < high, or null")
                if min(self.smoothing_bins) < 1:
                    problems.append("smoothing_bins must be positive")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (*self.mean, *self.std)) or not all(v > 0 for v in self.std if isinstance(v, (int, float))):
            problems.append("mean and std must be numbers (std positive)")
        elif len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            problems.append(f"mean and std need one value per input channel ({self.in_chans})")
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
    def input_channels(self) -> tuple[str, ...]:
        """Names of the model's input channels, in order."""
        return tuple(self.channels) + (CROSS_CHANNELS if self.representation == "cross_spectral" else ())

    @property
    def in_chans(self) -> int:
        return len(self.input_channels)

    @property
    def panels(self) -> int:
        return self.in_chans // PANEL_CHANNELS

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.image_height, self.image_width)

    @property
    def png_size(self) -> tuple[int, int]:
        """(height, width) of the PNG that holds one model input."""
        return (self.image_height, self.panels * self.image_width)

    @property
    def fingerprint(self) -> str:
        """Short hash of everything that shapes an input: equal fingerprints, interchangeable inputs."""
        payload = json.dumps({k: v for k, v in self.to_dict().items() if k != "hop_s"}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe_layout(self) -> str:
        h, w = self.png_size
        if self.representation == "power":
            return f"{w}x{h} RGB power spectrogram (R=H, G=D, B=Z), {self.fmin_hz:g}-{self.fmax_hz:g} Hz"
        return (f"{w}x{h} PNG of two {self.image_width}x{h} panels: power (R=H, G=D, B=Z) | cross-spectra "
                f"(R=ZH, G=ZD, B=HD coherency), {self.fmin_hz:g}-{self.fmax_hz:g} Hz")


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
    from scipy.signal import resample_poly  # imported only to resample: it holds ~60 MB of a serving process

    for x in series.stacked():
        y = resample_poly(_interpolate_gaps(x), up, down)
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


def window_step(spec: InputSpec, hop_s: float | None = None) -> int:
    """Samples between window starts: ``hop_s`` (default ``spec.hop_s``) rounded to whole samples, at least 1.

    Counting windows (:func:`window_count`) and cutting them use this same rounding, so a limit on the
    count holds for what is cut."""
    hop = spec.hop_s if hop_s is None else hop_s
    if not hop > 0:
        raise ValueError("hop must be positive")
    return max(1, int(round(hop / spec.sample_interval_s)))


def window_count(n_samples: int, spec: InputSpec, hop_s: float | None = None) -> int:
    """How many full windows :func:`cut_windows` cuts from ``n_samples`` samples at the spec's sampling."""
    n = spec.samples_per_window
    return 0 if n_samples < n else (n_samples - n) // window_step(spec, hop_s) + 1


def iter_windows(series: StationSeries, spec: InputSpec, hop_s: float | None = None) -> Iterator[Window]:
    """Full windows of ``spec.window_s`` every ``hop_s`` (default ``spec.hop_s``, rounded to whole samples)
    from the start, one at a time: a window's data is made only when it is reached.

    The series must already be at the spec's sampling (see :func:`conform_sampling`).
    """
    if not math.isclose(series.sampling_interval_s, spec.sample_interval_s, rel_tol=1e-6):
        raise UnsupportedSamplingError(
            f"series sampled every {series.sampling_interval_s:g} s; conform it to {spec.sample_interval_s:g} s first"
        )
    n = spec.samples_per_window
    step = window_step(spec, hop_s)
    stacked = series.stacked()
    missing = series.missing_mask()
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
        yield w


def cut_windows(series: StationSeries, spec: InputSpec, hop_s: float | None = None) -> list[Window]:
    """Every window :func:`iter_windows` gives, with its data."""
    return list(iter_windows(series, spec, hop_s))


# ---------------------------------------------------------------- spectrogram and image
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


def _stft(data: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    return stft(data, fs=1.0 / spec.sample_interval_s, window=spec.stft_window, nperseg=spec.nperseg,
                noverlap=spec.noverlap, detrend=_DETRENDERS[spec.detrend])


def band_frequencies(spec: InputSpec) -> np.ndarray:
    """Frequencies (Hz) of the spectrogram rows before resizing, lowest first."""
    f = np.fft.rfftfreq(spec.nperseg, spec.sample_interval_s)
    return f[_band(f, spec)]


def spectrogram_db(data: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(channels, n) samples -> (channels, freqs, times) PSD in dB re 1 nT^2/Hz within the spec's band."""
    f, x = _stft(data, spec)
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


def window_to_image(data: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Window samples (H, D, Z rows) -> image (in_chans, H, W) in [0, 1], channels in spec order."""
    if spec.representation == "power":
        order = [CHANNELS.index(c) for c in spec.channels]
        return db_to_image(spectrogram_db(data[order], spec), spec)
    f, x = _stft(data, spec)
    band = _band(f, spec)
    power_db = 10.0 * np.log10(one_sided_psd(x[:, band], spec.nperseg) + DB_FLOOR_PSD)
    coherency = cross_channels(f, x, spec.nperseg, band, spec.induction_band_hz, spec.smoothing_bins)
    planes = np.concatenate([_db_to_unit(power_db, spec), ((coherency + 1.0) / 2.0).astype(np.float32)])
    return _planes_to_image(planes, spec)


def normalize(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Image in [0, 1] -> model input (float32, per-channel mean/std)."""
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    out = image.astype(np.float32)  # one copy, then in place: the caller's image is left as it was
    out -= mean
    out /= std
    return out


# ---------------------------------------------------------------- PNG
PNG_TEXT_KEY = "precursor-input"  # tEXt chunk naming the representation and spec fingerprint
MAX_PNG_TEXT_CHARS = 4096  # a longer precursor-input chunk is not one this package wrote
ASPECT_TOLERANCE = 0.02  # a PNG of another size fits a layout if its aspect ratio is within 2%


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(image: np.ndarray) -> np.ndarray:
    """The image exactly as it reads back from its PNG (8-bit levels), as float32 in [0, 1].

    Training reads PNGs and the service predicts on quantised images, so a spectrogram PNG returned
    by ``/analyze`` and posted to ``/predict`` gives the same input, bit for bit.
    """
    return _to_uint8(image).astype(np.float32) / 255.0


def png_metadata(spec: InputSpec) -> dict[str, object]:
    return {"representation": spec.representation, "fingerprint": spec.fingerprint,
            "channels": list(spec.input_channels), "frequency_hz": [spec.fmin_hz, spec.fmax_hz],
            "window_s": spec.window_s, "db_range": [spec.db_min, spec.db_max]}


def image_to_png(image: np.ndarray, spec: InputSpec | None = None) -> bytes:
    """(C, H, W) float image in [0, 1] -> 8-bit RGB PNG bytes, panels of 3 channels side by side.

    With ``spec`` the PNG carries a text chunk describing its layout (ignored by image viewers).
    """
    u8 = _to_uint8(image)
    if u8.shape[0] % PANEL_CHANNELS:
        raise ValueError(f"an image of {u8.shape[0]} channels does not fill RGB panels")
    panels = [np.moveaxis(u8[k : k + PANEL_CHANNELS], 0, -1) for k in range(0, u8.shape[0], PANEL_CHANNELS)]
    info = None
    if spec is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_TEXT_KEY, json.dumps(png_metadata(spec), sort_keys=True))
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(panels, axis=1), mode="RGB").save(buf, format="PNG", optimize=False, pnginfo=info)
    return buf.getvalue()


@dataclass(frozen=True)
class PngImage:
    """A decoded PNG: 8-bit RGB pixels and its text chunks."""

    rgb: np.ndarray  # (height, width, 3) uint8
    text: dict[str, str]

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))

    @property
    def fingerprint(self) -> str | None:
        """The spec fingerprint the PNG's ``precursor-input`` chunk names; None if absent or not ours."""
        chunk = self.text.get(PNG_TEXT_KEY, "")
        if len(chunk) > MAX_PNG_TEXT_CHARS:  # ours is a few hundred characters
            return None
        try:
            value = json.loads(chunk).get("fingerprint")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: deeply nested JSON
            return None
        return value if isinstance(value, str) else None


_OBJECT_REPR = re.compile(r" ?<[^<>]* (object )?at 0x[0-9a-fA-F]+>")


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with; refuses oversized images."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidImageError("PNG could not be decoded: its IHDR header chunk is missing")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise InvalidImageError(f"PNG is {width}x{height} pixels: an image needs at least one pixel each way")
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


def read_png(data: bytes) -> PngImage:
    """Decode an 8- or 16-bit RGB(A)/grey PNG to 8-bit RGB; refuse non-PNG, damaged or oversized input.

    The size is checked in the header before anything is decoded. An 8-bit RGB PNG keeps its levels.
    """
    if not data.startswith(PNG_MAGIC):
        raise NotPngError("not a PNG file (missing PNG signature); upload a PNG spectrogram")
    _png_size(data)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            rgb = np.asarray(_to_rgb(img), dtype=np.uint8)
            text = {str(k): str(v) for k, v in getattr(img, "text", {}).items()}
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = _OBJECT_REPR.sub("", str(exc))  # Pillow names the file object: no internals in messages
        raise InvalidImageError(f"PNG could not be decoded: {reason}; upload the complete, undamaged file") from exc
    return PngImage(rgb, text)


def layout_fit(size: tuple[int, int], spec: InputSpec) -> str | None:
    """``exact`` if a PNG of ``size`` (height, width) is the spec's layout, ``resized`` if its aspect
    ratio matches (it will be resized), None if it fits neither."""
    height, width = size
    want_h, want_w = spec.png_size
    if (height, width) == (want_h, want_w):
        return "exact"
    if height and abs((width / height) / (want_w / want_h) - 1.0) <= ASPECT_TOLERANCE:
        return "resized"
    return None


@dataclass(frozen=True)
class DecodedImage:
    image: np.ndarray  # (in_chans, H, W) float32 in [0, 1] at the spec's size
    original_size: tuple[int, int]  # (height, width) as uploaded
    resized: bool


def _mismatch(png: PngImage, spec: InputSpec) -> LayoutMismatchError:
    height, width = png.size
    return LayoutMismatchError(f"PNG is {width}x{height}; this model expects a {spec.describe_layout()}")


def png_planes(png: PngImage, spec: InputSpec) -> np.ndarray:
    """The spec's input channels from a PNG of exactly its layout, as uint8 (in_chans, H, W)."""
    if layout_fit(png.size, spec) != "exact":
        raise _mismatch(png, spec)
    return np.concatenate([np.moveaxis(p, -1, 0) for p in np.split(png.rgb, spec.panels, axis=1)])


def png_to_image(data: bytes | PngImage, spec: InputSpec) -> DecodedImage:
    """Decode a PNG into the spec's image; refuse non-PNG, damaged, oversized or mis-shaped input.

    A PNG of another size whose aspect ratio fits the layout is resized (bilinear) panel by panel, one
    float channel at a time, so memory stays bounded.
    """
    png = data if isinstance(data, PngImage) else read_png(data)
    fit = layout_fit(png.size, spec)
    if fit is None:
        raise _mismatch(png, spec)
    if fit == "exact":
        planes = png_planes(png, spec)
        image = np.empty(planes.shape, dtype=np.float32)  # C-contiguous, whatever the planes' strides: a
        np.divide(planes, np.float32(255.0), out=image)  # strided image made normalising it 10x slower
        return DecodedImage(image, png.size, False)
    rgb = png.rgb
    if png.size[1] % spec.panels:
        width = spec.panels * (png.size[1] // spec.panels)
        rgb = np.asarray(Image.fromarray(rgb).resize((width, png.size[0]), Image.Resampling.BILINEAR))
    planes = np.stack([panel[:, :, c] for panel in np.split(rgb, spec.panels, axis=1) for c in range(PANEL_CHANNELS)])
    planes = planes.astype(np.float32) / np.float32(255.0)
    return DecodedImage(np.clip(resize_bilinear(planes, spec.image_size), 0.0, 1.0), png.size, True)


@dataclass(frozen=True)
class ChosenInput:
    """A PNG decoded for the input description it was meant for (see :func:`decode_png_for`)."""

    index: int  # into the candidates
    why: str
    decoded: DecodedImage


def choose_input(png: PngImage, candidates: list[tuple[str, InputSpec]]) -> tuple[int, str]:
    """Which candidate (name, spec) a PNG is meant for, and why: the spec fingerprint it carries, else the one
    whose layout it has exactly, else one whose aspect ratio it has (it will be resized); the first candidate
    first among equals. A PNG that fits none is a LayoutMismatchError saying what each expects."""
    if png.fingerprint:
        for i, (_, spec) in enumerate(candidates):
            if spec.fingerprint == png.fingerprint:
                return i, "the input description the PNG carries"
    for fit, why in (("exact", "the PNG's layout"), ("resized", "the PNG's aspect ratio (resized)")):
        for i, (_, spec) in enumerate(candidates):
            if layout_fit(png.size, spec) == fit:
                return i, why
    height, width = png.size
    expected = "; ".join(f"{name}: {spec.describe_layout()}" for name, spec in candidates)
    raise LayoutMismatchError(f"PNG is {width}x{height}, which fits no served model; expected {expected}")


def decode_png_for(data: bytes, candidates: list[tuple[str, InputSpec]], named: bool = False) -> ChosenInput:
    """Decode an uploaded PNG for the candidate it is meant for (:func:`choose_input`), or, when the caller
    ``named`` its one candidate, for that one whatever the PNG says."""
    png = read_png(data)
    index, why = (0, "the model field") if named else choose_input(png, candidates)
    return ChosenInput(index, why, png_to_image(png, candidates[index][1]))
