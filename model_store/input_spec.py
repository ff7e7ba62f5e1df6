"""The input description: everything that turns a station record into a model input, stored in every
checkpoint (sampling, windows, STFT, band, dB range, image size, normalisation, representation)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

from .config import DictConfig
from .cross_spectra import CROSS_CHANNELS
from .series import CHANNELS

REPRESENTATIONS = ("power", "cross_spectral")
BACKGROUNDS = ("absolute", "station")
# fields added after checkpoints were first written: at their defaults they leave the fingerprint as it was
_LATER_FIELDS = {"background": "absolute", "relative_db": 20.0}
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

    ``background``: ``absolute`` (the power panel in dB re 1 nT^2/Hz, as above) or ``station``: the power
    panel in dB relative to the station's own ordinary background for that frequency row and time of day
    (:mod:`model_store.background`: the station's baseline, or the training stations' median without one),
    mapped from [-relative_db, +relative_db] to [0, 1]; the model then reads evidence relative to the station,
    not to the stations it was trained on. The coherency panel is the same in both.
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
    background: str = "absolute"  # absolute | station (the power panel relative to the station's background)
    relative_db: float = 20.0  # station: the power panel spans +-relative_db around the background

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
        if self.background not in BACKGROUNDS:
            problems.append(f"unknown background {self.background!r} ({', '.join(BACKGROUNDS)})")
        if not (isinstance(self.relative_db, (int, float)) and self.relative_db > 0):
            problems.append("relative_db must be positive")
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
        payload = json.dumps({k: v for k, v in self.to_dict().items()
                              if k != "hop_s" and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def absolute(self) -> InputSpec:
        """The same input with the power panel in absolute dB (what a station's background is measured with)."""
        return self if self.background == "absolute" else replace(self, background="absolute")

    def describe_layout(self) -> str:
        h, w = self.png_size
        power = ("power" if self.background == "absolute"
                 else f"power relative to the station's background (+-{self.relative_db:g} dB)")
        if self.representation == "power":
            return f"{w}x{h} RGB {power} spectrogram (R=H, G=D, B=Z), {self.fmin_hz:g}-{self.fmax_hz:g} Hz"
        return (f"{w}x{h} PNG of two {self.image_width}x{h} panels: {power} (R=H, G=D, B=Z) | cross-spectra "
                f"(R=ZH, G=ZD, B=HD coherency), {self.fmin_hz:g}-{self.fmax_hz:g} Hz")
