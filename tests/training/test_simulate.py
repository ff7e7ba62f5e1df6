"""The simulator: determinism, physical content, and the falsification switch."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import signal

from model_store import read_series
from training.simulate import SimConfig, World
from training.writers import to_frg604rc, to_iaga2002

# A small, busy world so that a close large event exists within a few days.
BUSY = SimConfig(seed=7, days=3, stations=("LUT", "GTO", "PLU", "TRT", "AMB"), events_per_day=150, b_value=0.5)


def _band_power(x: np.ndarray, f1: float, f2: float) -> float:
    f, p = signal.welch(np.nan_to_num(x - np.nanmean(x)), fs=1.0, nperseg=1024)
    return float(p[(f >= f1) & (f <= f2)].mean())


@pytest.fixture(scope="module")
def worlds():
    return World(BUSY), World(replace(BUSY, precursors=False))


def test_same_seed_same_world(worlds):
    a, _ = worlds
    b = World(BUSY)
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    np.testing.assert_array_equal(a.simulate_day(1, ["GTO"])["GTO"].h, b.simulate_day(1, ["GTO"])["GTO"].h)


def test_station_day_looks_like_a_logger_record(worlds):
    s = worlds[0].simulate_day(0, ["LUT"])["LUT"]
    assert s.n_samples == 86_400 and s.sampling_interval_s == 1.0
    assert 30_000 < np.nanmedian(s.h) < 45_000 and np.nanmedian(s.z) < 0
    assert np.allclose(s.h[~np.isnan(s.h)] * 100, np.rint(s.h[~np.isnan(s.h)] * 100))  # 0.01 nT resolution
    daily_range = np.nanmax(s.h) - np.nanmin(s.h)
    assert 10 < daily_range < 400  # Sq and disturbances: tens of nT, not byte noise


def test_injected_band_power_stands_above_background_near_a_large_event(worlds):
    world, quiet = worlds
    inj = max(world.injections, key=lambda i: i.amplitude_nt)
    assert inj.amplitude_nt >= 0.5
    day = (inj.end - world.days[0]).days
    day = min(max(day, 0), BUSY.days - 1)
    if inj.end <= world.days[day]:
        day -= 1
    with_p = world.simulate_day(day, [inj.station])[inj.station]
    without = quiet.simulate_day(day, [inj.station])[inj.station]
    t_end = int((inj.end - world.days[day]).total_seconds())
    sl = slice(max(0, t_end - 6 * 3600), min(86_400, t_end))  # the hours just before the origin
    f1, f2 = inj.band_hz
    ratio_z = _band_power(with_p.z[sl], f1, f2) / _band_power(without.z[sl], f1, f2)
    assert ratio_z > 2.0
    # outside the emission band the two worlds agree (same background streams)
    assert _band_power(with_p.h[sl], 0.2, 0.45) == pytest.approx(_band_power(without.h[sl], 0.2, 0.45), rel=0.05)


def test_no_precursor_world_has_no_injections(worlds):
    _, quiet = worlds
    assert quiet.injections == []
    assert quiet.ground_truth()["injections"] == []


def test_simulated_days_survive_the_real_readers(worlds):
    s = worlds[0].simulate_day(2, ["PLU"])["PLU"]
    back = read_series(to_frg604rc(s))
    assert back.station == "PLU" and back.start == s.start
    np.testing.assert_array_equal(np.isnan(back.h), np.isnan(s.h))
    np.testing.assert_allclose(back.h, s.h, atol=0.005)
    short = type(s)(s.station, s.start, 1.0, s.h[:600], s.d[:600], s.z[:600], "sim", s.latitude, s.longitude)
    iaga = read_series(to_iaga2002(short))
    np.testing.assert_allclose(iaga.z, short.z, atol=0.005)


def test_frg_writer_reproduces_the_real_file_records(lut_day_path):
    import gzip

    raw = gzip.decompress(lut_day_path.read_bytes())
    ours = to_frg604rc(read_series(lut_day_path))
    assert len(ours) == len(raw)
    a = np.frombuffer(raw[: 144 * 10230], np.uint8).reshape(144, 10230)[:, 30:].reshape(144, 600, 17)
    b = np.frombuffer(ours[: 144 * 10230], np.uint8).reshape(144, 10230)[:, 30:].reshape(144, 600, 17)
    np.testing.assert_array_equal(a[..., :9], b[..., :9])  # H, D, Z bytes identical, gaps included
