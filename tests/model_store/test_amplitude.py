"""The received band amplitude: a known sine, band-limited noise of known RMS, and what lies outside the band."""

import numpy as np
import pytest

from model_store.amplitude import band_amplitude_nt

N = 6 * 3600  # a 6-hour window at 1 Hz


def test_a_sine_in_the_band_gives_its_rms_along_any_bearing():
    t = np.arange(N)
    p = 0.5 * np.sin(2 * np.pi * 0.03 * t)  # 0.5 nT peak: RMS 0.354 nT
    for bearing in (0.0, 30.0, 135.0):
        th = np.radians(bearing)
        data = np.stack([p * np.cos(th), p * np.sin(th), 2 * p])  # Z is not read
        assert band_amplitude_nt(data, 1.0) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)


def test_band_noise_of_unit_rms_times_a_is_a_and_out_of_band_signals_and_trends_are_left_out():
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.normal(size=N))
    f = np.fft.rfftfreq(N)
    spectrum[(f < 0.02) | (f > 0.05)] = 0
    p = np.fft.irfft(spectrum, N)
    p /= p.std()  # unit-variance noise in 0.02-0.05 Hz, as the simulator's emissions
    t = np.arange(N)
    daily = 40 * np.sin(2 * np.pi * t / 86400 + 0.3) + 0.001 * t  # Sq-like variation and a drift: not in the band
    fast = 0.3 * np.sin(2 * np.pi * 0.2 * t)  # 0.2 Hz: above the band
    data = np.stack([0.2 * p + daily + fast, 0.1 * p + 0.5 * daily, np.zeros(N)])
    assert band_amplitude_nt(data, 1.0) == pytest.approx(np.hypot(0.2, 0.1), rel=0.01)
    assert band_amplitude_nt(np.stack([daily + fast, daily, daily]), 1.0) < 0.01


def test_a_window_with_a_gap_left_in_has_no_amplitude():
    data = np.zeros((3, 1000))
    data[0, 5] = np.nan
    assert np.isnan(band_amplitude_nt(data, 1.0))
