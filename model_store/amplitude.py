"""The received band amplitude of one window: how strong the horizontal field is in the emission band, in nT.

:func:`band_amplitude_nt` is the root-mean-square of the horizontal field (H and D together) within ``band_hz``
(default 0.01-0.1 Hz, where emissions are reported) over the window, from Welch's estimate of its power
spectral density with the spectrogram's own tools (:func:`model_store.cross_spectra.stft`): Hann segments of
512 samples (512 s at 1 Hz, bins 0.002 Hz apart), half overlapping, each with its least-squares line removed,
the one-sided PSD of H and of D averaged over the segments and summed over the band's bins times the bin width:

    A = sqrt( sum_{f in band} (S_HH(f) + S_DD(f)) df )

The per-segment line and the taper keep the daily variation out of the band (a 40 nT daily wave adds well under
0.01 nT); a full-window FFT would leak a few hundredths of a nT of it into 0.01 Hz. Short gaps are expected to
be filled already (the pipeline's windows interpolate them linearly, which adds no band power, so A is slightly
low where they are).

It is the simulator's definition of a received amplitude (``World.received_amplitude``: the emission's amplitude
times the RMS of its envelope over the window; an emission is unit-variance band noise along the bearing, so
its horizontal RMS is that amplitude) plus what the background puts in the band: A^2 is the emission's square
plus the background's (pulsations, man-made noise), so on a quiet window A measures the background, a few
hundredths to a few tenths of a nT. It is what :class:`model_store.network.StationObservation` takes as
``amplitude_nt``.
"""

from __future__ import annotations

import numpy as np

from .cross_spectra import one_sided_psd, stft
from .spectrogram import _detrend_linear

EMISSION_BAND_HZ = (0.01, 0.1)
SEGMENT_SAMPLES = 512


def band_amplitude_nt(data: np.ndarray, sample_interval_s: float,
                      band_hz: tuple[float, float] = EMISSION_BAND_HZ) -> float:
    """RMS (nT) of the horizontal field of ``data`` (rows H, D, ...: the first two are read) within ``band_hz``.

    NaN if the window is shorter than one segment or holds a NaN (fill gaps first)."""
    x = np.asarray(data, dtype=np.float64)[:2]
    if x.shape[-1] < SEGMENT_SAMPLES or not np.isfinite(x).all():
        return float("nan")
    freqs, spectrum = stft(x, 1.0 / sample_interval_s, "hann", SEGMENT_SAMPLES, SEGMENT_SAMPLES // 2,
                           _detrend_linear)
    psd = one_sided_psd(spectrum, SEGMENT_SAMPLES).mean(axis=-1).sum(axis=0)  # (F,): S_HH + S_DD
    inside = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    return float(np.sqrt(psd[inside].sum() * (freqs[1] - freqs[0])))


__all__ = ["EMISSION_BAND_HZ", "band_amplitude_nt"]
