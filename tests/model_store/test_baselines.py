"""Station baselines: made from a station's own days, stored like checkpoints, and read as p-values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from model_store.baseline_store import BASELINE_FILE, BaselineStore
from model_store.baselines import (
    DROPPED_MISSING,
    DROPPED_OUTLIER,
    BaselineError,
    BaselineRules,
    SourceFile,
    StationBaseline,
    alarm_threshold,
    make_baseline,
)

from .conftest import TINY_SPEC

SPEC = TINY_SPEC
NOW = datetime(2026, 12, 6, tzinfo=timezone.utc)



def _days(lut_day, n: int, seed: int = 0):
    """``n`` days of station LUT: the real LUT day again on later dates, with a little independent noise."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        noisy = {c: getattr(lut_day, c) + rng.normal(0, 0.05, lut_day.n_samples) for c in "hdz"}
        day = replace(lut_day, start=lut_day.start + timedelta(days=k), **noisy)
        out.append((SourceFile(f"S2301{k + 1:02d}.LUT", f"{k:064x}", 1000, day.start.isoformat(), day.end.isoformat()),
                    day))
    return out


def _make(records, engine, rules=BaselineRules(), known=None):
    return make_baseline("LUT", records, {"tiny:1": (SPEC, engine.predict)}, rules, known=known, now=NOW)


def test_a_baseline_keeps_the_scores_and_spectra_of_the_station_s_windows(lut_day, engine):
    b = _make(_days(lut_day, 3), engine)
    assert b.windows == {"total": 12, "used": 12, "dropped": {}} and b.days == ["2023-01-01", "2023-01-02", "2023-01-03"]
    m = b.models["tiny:1"]
    assert m["windows"] == 12 and m["scores"] == sorted(m["scores"]) and m["fingerprint"] == SPEC.fingerprint
    spectra = b.spectra[SPEC.fingerprint]
    assert np.array(spectra["row_db_median"]).shape == (4, 3, 32) and spectra["windows_per_band"] == [3, 3, 3, 3]
    # p-values: (1 + #{baseline >= s}) / (n + 1)
    scores = m["scores"]
    assert b.p_value("tiny:1", 2.0) == pytest.approx(1 / 13)
    assert b.p_value("tiny:1", -1.0) == pytest.approx(1.0)
    assert b.p_value("tiny:1", scores[6]) == pytest.approx((1 + sum(s >= scores[6] for s in scores)) / 13)
    assert b.p_value("other:1", 0.5) is None


def test_days_with_a_storm_or_gaps_are_dropped_and_counted(lut_day, engine):
    records = _days(lut_day, 4)
    source, day = records[1]
    t = np.arange(day.n_samples)
    storm = 40.0 * np.sin(2 * np.pi * 0.03 * t) * (t < 6 * 3600)  # the first window of the second day
    records[1] = (source, replace(day, h=day.h + storm, d=day.d + storm))
    source, day = records[2]
    gappy = day.h.copy()
    gappy[12 * 3600:15 * 3600] = np.nan  # half of the third window of the third day
    records[2] = (source, replace(day, h=gappy))
    b = _make(records, engine)
    assert b.windows["total"] == 16 and b.windows["dropped"] == {DROPPED_MISSING: 1, DROPPED_OUTLIER: 1}
    assert b.windows["used"] == 14 and b.models["tiny:1"]["windows"] == 14


def test_too_few_windows_another_station_or_the_same_file_twice_are_refused(lut_day, engine):
    with pytest.raises(BaselineError, match=r"too few usable windows for a baseline of station LUT: 8 of 8 .* at "
                                            r"least 10 are needed, about 3 days"):
        _make(_days(lut_day, 2), engine)
    records = _days(lut_day, 3)
    records[1] = (records[1][0], replace(records[1][1], station="GTO"))
    with pytest.raises(BaselineError, match="S230102.LUT is a record of station GTO, not LUT"):
        _make(records, engine)
    records = _days(lut_day, 3)
    records[2] = (records[2][0], replace(records[2][1], latitude=1.0, longitude=120.0))
    with pytest.raises(BaselineError, match="S230103.LUT places station LUT at 1.0000, 120.0000"):
        _make(records, engine, known=(-8.5, 116.1))
    records = _days(lut_day, 3)
    records[2] = (records[0][0], records[2][1])
    with pytest.raises(BaselineError, match="is the same file as"):
        _make(records, engine)


@pytest.mark.parametrize("n, rate, expected", [(19, 0.05, 19), (39, 0.05, 38), (12, 0.05, None), (9, 0.1, 9)])
def test_the_alarm_threshold_is_the_smallest_score_at_the_false_alarm_rate(n, rate, expected):
    scores = np.arange(1, n + 1) / 100.0
    threshold = alarm_threshold(scores, rate)
    if expected is None:
        assert threshold is None  # 1 / (n + 1) > rate: no score can be that rare among n
        return
    # the rank where (1 + #{>= s}) / (n + 1) first drops to the rate
    assert scores[expected - 1] < threshold <= scores[expected - 1] + 1e-12
    b = StationBaseline("X", None, None, "", [], [], {"false_alarm_rate": rate}, {}, {"m": {"scores": list(scores)}}, {})
    assert b.p_value("m", threshold) <= rate < b.p_value("m", scores[expected - 1])


def test_the_store_writes_versions_once_checks_them_and_deletes_whole_stations(lut_day, engine, tmp_path):
    store = BaselineStore(tmp_path)
    first = store.save(_make(_days(lut_day, 3), engine))
    second = store.save(_make(_days(lut_day, 4), engine))
    assert (first.version, second.version) == ("1", "2") and store.versions("lut") == ["1", "2"]
    latest = store.load_latest("LUT")
    assert latest.version == "2" and latest.sha256 == second.sha256 and latest.windows["used"] == 16
    assert latest.to_dict() == json.loads((tmp_path / "LUT" / "2" / BASELINE_FILE).read_text())
    assert store.stations() == ["LUT"] and store.load_latest("GTO") is None
    # a damaged version is refused, never served as if it were whole
    (tmp_path / "LUT" / "2" / BASELINE_FILE).write_text(json.dumps({**latest.to_dict(), "days": []}))
    with pytest.raises(BaselineError, match="does not match its sha256"):
        store.load_latest("LUT")
    assert store.delete("lut") == ["1", "2"] and store.stations() == [] and store.delete("LUT") == []
    with pytest.raises(BaselineError, match="station code"):
        store.versions("../etc")
