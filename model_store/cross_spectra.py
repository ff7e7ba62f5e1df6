"""Cross-spectral channels: what a power spectrogram cannot show, the direction of a polarised source.

A power spectrogram does not change when a component flips sign, so a source at bearing t looks like
one at -t, 180-t or 180+t. The sign of Z relative to the horizontal field resolves it (magnetic
direction finding of ULF sources; Surkov, Molchanov and Hayakawa 2004, Nat. Hazards Earth Syst. Sci. 4,
513): for a field polarised along bearing t with Z in phase, Re<Z H*> ~ cos t and Re<Z D*> ~ sin t.

Per time-frequency cell of the same STFT as the power spectrogram:

1. Optionally (``induction_band_hz``), the window's own induction response is removed from Z: the
   induction arrow (complex A, B of Z = A H + B D) is fitted by least squares on the cells of that band
   (long periods, where external fields dominate) and ``Zr = Z - A H - B D`` replaces Z. Off (null) by
   default: real arrows shrink with frequency (LUT: |T| 1.0 at 0.001-0.01 Hz, 0.5 at 0.03-0.1 Hz), so
   a long-period arrow over-corrects the emission band (on the simulator: 0.73 vs 0.76 sector accuracy
   of the physics estimator). A coastal station's ordinary variations then point along its arrow in
   every window, which the learned model sees across all frequencies and learns to discount.
2. Cross spectra are smoothed over ``smoothing_bins`` (frequency bins x time segments).
3. Channels: ``ZH = Re S_ZrH / sqrt(S_ZrZr (S_HH + S_DD))`` and ``ZD = Re S_ZrD / sqrt(...)``, both in
   [-1, 1] (a coherent source along bearing t gives (cos t, sin t) times its coherence), and
   ``HD = 2 Re S_HD / (S_HH + S_DD)``, the horizontal polarisation (sin 2t for a field linearly polarised
   along t: its axis, without the sign that Z adds).
"""

from __future__ import annotations

import numpy as np

CROSS_CHANNELS = ("ZH", "ZD", "HD")
EPS_PSD = 1e-12


def _window(name: str, nperseg: int) -> np.ndarray:
    """``scipy.signal.get_window(name, nperseg)`` (periodic); the Hann window without importing scipy.signal,
    which holds about 60 MB of a serving process."""
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    from scipy.signal import get_window  # any other window a spec names: imported on first use

    return get_window(name, nperseg)


def stft(data: np.ndarray, fs: float, window: str, nperseg: int, noverlap: int, detrend) -> tuple[np.ndarray, np.ndarray]:
    """Complex STFT with density scaling: ``(freqs, X)`` with X of shape (channels, freqs, segments).

    The same as ``scipy.signal.spectrogram(..., scaling="density", mode="complex")`` (segments without
    padding or boundary extension; ``detrend`` is a function of the segments, "constant" or False), so
    ``one_sided_psd(X)`` equals scipy's PSD spectrogram of the same settings (tested against scipy).
    """
    data = np.asarray(data, dtype=np.float64)
    step = nperseg - noverlap
    n_segments = (data.shape[-1] - noverlap) // step
    segments = np.lib.stride_tricks.sliding_window_view(data, nperseg, axis=-1)[..., ::step, :][..., :n_segments, :]
    if callable(detrend):
        segments = detrend(segments)
    elif detrend == "constant":
        segments = segments - segments.mean(axis=-1, keepdims=True)
    elif detrend is not False:
        raise ValueError(f"unknown detrend {detrend!r}")
    win = _window(window, nperseg)
    x = np.fft.rfft(segments * win, n=nperseg, axis=-1) * np.sqrt(1.0 / (fs * (win * win).sum()))
    return np.fft.rfftfreq(nperseg, 1.0 / fs), np.moveaxis(x, -1, -2)


def uniform_filter(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(values, size, mode="nearest")`` of a 2-D array, in numpy: the mean of
    a ``size`` box, edges extended with the nearest value (an even box reaches one sample further back than
    forward, as scipy's does). Sums of shifted views: for the few-bin boxes used here, faster than running
    sums and as fast as scipy's."""
    (n0, n1), (s0, s1), (b0, b1) = values.shape, size, (size[0] // 2, size[1] // 2)
    padded = np.empty((n0 + s0 - 1, n1 + s1 - 1), dtype=np.result_type(values, np.float64))
    padded[b0:b0 + n0, b1:b1 + n1] = values  # then the edges, rows first (np.pad's "edge", without its cost)
    padded[:b0, b1:b1 + n1] = values[:1]
    padded[b0 + n0:, b1:b1 + n1] = values[-1:]
    padded[:, :b1] = padded[:, b1:b1 + 1]
    padded[:, b1 + n1:] = padded[:, b1 + n1 - 1:b1 + n1]
    rows = padded[:n0].copy()
    for k in range(1, s0):
        rows += padded[k:k + n0]
    box = rows[:, :n1].copy()
    for k in range(1, s1):
        box += rows[:, k:k + n1]
    box /= s0 * s1
    return box


def _one_sided_factor(n_freqs: int, nperseg: int) -> np.ndarray:
    factor = np.full(n_freqs, 2.0)
    factor[0] = 1.0
    if nperseg % 2 == 0:
        factor[-1] = 1.0
    return factor


def one_sided_psd(x: np.ndarray, nperseg: int) -> np.ndarray:
    return np.abs(x) ** 2 * _one_sided_factor(x.shape[-2], nperseg)[:, None]


def induction_arrow(h: np.ndarray, d: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Complex (A, B) minimising |Z - A H - B D|^2 over the given cells; zeros if undetermined."""
    horizontal = np.stack([h.ravel(), d.ravel()], axis=1)
    gram = horizontal.conj().T @ horizontal
    if not np.isfinite(gram).all() or abs(np.linalg.det(gram)) <= 1e-20 * max(np.trace(gram).real, 1e-30) ** 2:
        return np.zeros(2, dtype=complex)
    return np.linalg.solve(gram, horizontal.conj().T @ z.ravel())


def remove_induction(freqs: np.ndarray, x: np.ndarray, band_hz: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The induction arrow (complex A, B) fitted on the cells of ``band_hz`` (``low <= f < high``) of a
    (3, F, T) STFT of H, D, Z, and the Z it leaves, ``Zr = Z - A H - B D``, on every cell (F, T)."""
    h, d, z = x
    ref = (freqs >= band_hz[0]) & (freqs < band_hz[1])
    arrow = induction_arrow(h[ref], d[ref], z[ref])
    return arrow, z - arrow[0] * h - arrow[1] * d


def cross_channels(freqs: np.ndarray, x: np.ndarray, nperseg: int, band: np.ndarray,
                   induction_band_hz: tuple[float, float] | None, smoothing: tuple[int, int]) -> np.ndarray:
    """(3, F, T) STFT of H, D, Z -> (3, F_band, T): ZH, ZD and HD coherency, each in [-1, 1]."""
    h, d, z = x
    if induction_band_hz is not None:
        z = remove_induction(freqs, x, induction_band_hz)[1]
    h, d, z = h[band], d[band], z[band]
    size = (max(1, smoothing[0]), max(1, smoothing[1]))

    def smooth(values: np.ndarray) -> np.ndarray:
        return uniform_filter(values, size)

    s_zh, s_zd = smooth((z * h.conj()).real), smooth((z * d.conj()).real)
    # box sums of non-negative powers stay non-negative; the clip only guards rounding
    s_hh, s_dd, s_zz = (np.maximum(smooth(np.abs(c) ** 2), 0.0) for c in (h, d, z))
    s_hd = smooth((h * d.conj()).real)
    norm = np.sqrt(s_zz * (s_hh + s_dd)) + EPS_PSD
    return np.clip(np.stack([s_zh / norm, s_zd / norm, 2.0 * s_hd / (s_hh + s_dd + EPS_PSD)]), -1.0, 1.0)


__all__ = [
    "CROSS_CHANNELS", "cross_channels", "induction_arrow", "one_sided_psd", "remove_induction", "stft", "uniform_filter",
]
