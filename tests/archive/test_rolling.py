"""The rolling baseline: each day's p-values are those of a station baseline (model_store.baselines) made from
the station's windows of the days before it, by the same window-selection rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from archive.rolling import DAY_US, RollingRules, rolling_p_values
from model_store.baselines import BaselineRules, WindowStats, build_baseline, local_time_band
from model_store.input_spec import InputSpec

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
LONGITUDE = 110.0


def _station(days: int, seed: int = 0):
    """Four 6-hour windows a day: scores, emission-band power following the local time, a storm on day 5 (every
    window far louder: outliers) and a gap (skipped window) on day 7."""
    rng = np.random.default_rng(seed)
    starts = [T0 + timedelta(hours=6 * k) for k in range(4 * days)]
    score = np.round(rng.beta(2, 12, len(starts)), 6)  # as a stored baseline keeps them
    band = np.array([local_time_band(s, 6 * 3600, LONGITUDE, 4) for s in starts])
    band_db = -20 + 3 * band[:, None] + rng.normal(0, 1.0, (len(starts), 3))
    storm = np.array([s.date() == (T0 + timedelta(days=5)).date() for s in starts])
    band_db[storm] += 25
    usable = np.ones(len(starts), bool)
    usable[4 * 7 + 2] = False
    return starts, score, band, band_db, usable


def test_each_day_is_judged_by_the_baseline_of_its_preceding_days():
    rules = RollingRules(days=5, min_days=3)
    starts, score, band, band_db, usable = _station(12)
    start_us = np.array([int(s.timestamp() * 1e6) for s in starts])
    p, n_kept, n_days = rolling_p_values(start_us, usable, score, band_db, band, rules)
    spec = InputSpec()
    for day in range(12):
        today = [i for i, s in enumerate(starts) if (s - T0).days == day and usable[i]]
        before = [i for i, s in enumerate(starts) if day - 5 <= (s - T0).days < day]
        stats = [WindowStats(starts[i], int(band[i]), band_db[i], np.zeros((3, 4)), None, float(score[i]))
                 if usable[i] else None for i in before]
        if day < 3:  # fewer than min_days before it (and fewer than 10 windows): no baseline, no p-value
            assert np.isnan(p[today]).all()
            continue
        reference = build_baseline("AAA", None, LONGITUDE, {"m:1": (spec, stats)}, [], rules.baseline)
        assert n_kept[today[0]] == reference.windows["used"] and n_days[today[0]] == len(reference.days)
        expected = [reference.p_value("m:1", float(score[i])) for i in today]
        assert p[today] == pytest.approx(expected, abs=1e-12), day
    # the storm day is left out of the baselines that follow it, as a hand-made baseline would drop it
    day6 = [i for i, s in enumerate(starts) if (s - T0).days == 6]
    assert n_kept[day6[0]] == 4 * 5 - 4
    assert np.isnan(p[~usable]).all() and n_kept[~usable].sum() == 0


def test_a_day_after_a_long_outage_has_no_p_value_until_enough_days_come_back():
    rules = RollingRules(days=14, min_days=3, baseline=BaselineRules(min_windows=10))
    starts, score, band, band_db, usable = _station(30, seed=1)
    start_us = np.array([int(s.timestamp() * 1e6) for s in starts])
    keep = (start_us < start_us[0] + 10 * DAY_US) | (start_us >= start_us[0] + 25 * DAY_US)  # days 10-24 missing
    p, n_kept, n_days = rolling_p_values(start_us[keep], usable[keep], score[keep], band_db[keep], band[keep], rules)
    day = (start_us[keep] - start_us[0]) // DAY_US
    assert np.isnan(p[day == 25]).all()  # its 14 days before hold only day 11.. (nothing): no baseline
    assert np.isnan(p[day == 27]).all() and n_days[day == 27][0] == 2
    assert not np.isnan(p[(day == 28) & usable[keep]]).any() and n_days[day == 28][0] == 3
    smallest = 1 / (n_kept[day == 28][0] + 1)
    assert p[day == 28].min() >= smallest
