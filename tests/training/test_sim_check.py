"""The sim-check measures records with the estimator that makes the model's input (model_store.cross_spectra)."""

from dataclasses import replace

import numpy as np
import pytest

from model_store.cross_spectra import cross_channels, induction_arrow
from model_store.spectrogram import band_frequencies, spectrogram_db
from training.sim_check import BANDS_HZ, MEASURE_SPEC, window_stats

ARROW = (0.6, -0.3)


@pytest.fixture(scope="module")
def record() -> np.ndarray:
    """A synthetic 6-hour window: red-noise H and D, Z induced from them along ARROW plus a little noise."""
    rng = np.random.default_rng(3)
    n = MEASURE_SPEC.samples_per_window
    h, d = np.cumsum(rng.standard_normal((2, n)), axis=1) * 0.05 + rng.standard_normal((2, n))
    z = ARROW[0] * h + ARROW[1] * d + 0.05 * rng.standard_normal(n)
    return np.stack([h, d, z])


def test_band_levels_are_the_model_inputs_power_spectrogram(record):
    spec = replace(MEASURE_SPEC, fmin_hz=0.0, fmax_hz=0.5)
    psd = 10 ** (spectrogram_db(record, spec) / 10) - 1e-12  # the power panel's PSD, before the dB floor
    f = band_frequencies(spec)
    for (lo, hi), stats in zip(BANDS_HZ, window_stats(record)):
        rows = (f >= lo) & (f < hi)
        assert rows.any()
        assert stats.db == pytest.approx(10 * np.log10(psd[:, rows].mean(axis=(1, 2))), abs=1e-6)


def test_induction_arrow_is_cross_spectras_fit(record):
    from model_store.spectrogram import window_stft as _stft

    f, x = _stft(record, MEASURE_SPEC)
    for (lo, hi), stats in zip(BANDS_HZ, window_stats(record)):
        m = (f >= lo) & (f < hi)
        arrow = induction_arrow(x[0, m], x[1, m], x[2, m])
        assert stats.arrow == pytest.approx((arrow[0].real, arrow[1].real), abs=1e-12)
        assert stats.arrow == pytest.approx(ARROW, abs=0.02)  # and it is the arrow the record was made with
        assert stats.induction == pytest.approx(np.hypot(*ARROW), abs=0.02)
        assert 0.9 < stats.coherence <= 1.0
        # what the fit leaves of Z is what the cross-spectral channels see with that band as induction band:
        # nothing coherent with H or D
        zh_zd = cross_channels(f, x, MEASURE_SPEC.nperseg, m, (lo, hi), MEASURE_SPEC.smoothing_bins)[:2]
        assert np.abs(zh_zd).mean() < 0.3  # about 0.18 (noise after 3x3 smoothing); without the removal 0.47
