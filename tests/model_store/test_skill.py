"""Skill against a catalogue: hand-computed Molchan points, chance without precursors, a perfect predictor,
the shifted-catalogue control, target selection, and the report writer."""

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from model_store.catalog import Event
from model_store.skill import (
    AlarmRows,
    SpaceTime,
    TargetRule,
    area_under,
    detection_range_km,
    dobrovolsky_radius_km,
    random_ass,
    score_alarms,
    write_skill_report,
)
from model_store.stats import grouped_bootstrap, grouped_bootstrap_ci

T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
STATIONS = {"AAA": (0.0, 100.0), "BBB": (0.0, 101.0)}  # 111 km apart
NEAR_A, NEAR_B = (0.1, 100.0), (0.1, 101.0)  # 11 km from their station, 112 km from the other


def day(x: float) -> datetime:
    return T0 + timedelta(days=x)


def event(eid: str, days: float, where: tuple[float, float], magnitude: float = 5.0) -> Event:
    return Event(eid, day(days), where[0], where[1], 10.0, magnitude)


def daily_rows(scores: dict[str, list[float]], threshold: float = 0.6) -> AlarmRows:
    """One window a day per station, the k-th (k = 1..) from day k-1 to day k."""
    station, start, end, score = [], [], [], []
    for code, values in scores.items():
        for k, s in enumerate(values, start=1):
            station.append(code)
            start.append(day(k - 1))
            end.append(day(k))
            score.append(s)
    score = np.array(score)
    return AlarmRows(np.array(station), start, end, score, score >= threshold)


# ------------------------------------------------------------------------------------------ hand computed
HAND_RULE = TargetRule(min_magnitude=4.0, radius="fixed", radius_km=50.0, lead_min_hours=0.0, lead_max_hours=24.0)
HAND_SCORES = {"AAA": [0.9, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1],
               "BBB": [0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3]}
HAND_EVENTS = [
    event("E1", 1.5, NEAR_A),  # A's window ending day 1 speaks for (1, 2]: score 0.9
    event("E2", 8.5, NEAR_A),  # window ending day 8: 0.5
    event("E3", 3.25, NEAR_B),  # B's window ending day 3: 0.7
    event("small", 4.5, NEAR_A, magnitude=3.0),  # below M4
    event("far", 5.5, (5.0, 100.0), magnitude=7.0),  # 556 km from AAA
    event("before", 0.5, NEAR_A),  # before any window speaks (coverage is (1, 11] days)
    event("after", 11.5, NEAR_B),
]


def test_known_synthetic_case_gives_the_hand_computed_molchan_points():
    # Lead (0, 24 h] after a window's end: the window ending on day d speaks for (d, d + 1] at its station.
    # Space-time: 2 stations x (1, 11] days = 20 station-days, uniform weight; a day is 1/20 = 0.05 of tau.
    # Alarm-function values and their station-days: 0.9 (A d1) 1, 0.8 (A d4) 1, 0.7 (B d3) 1, 0.5 (A d8) 1,
    # 0.3 (B d10) 1, 0.1 the other 15. Targets (M >= 4 within 50 km, in covered time): E1 0.9, E3 0.7, E2 0.5.
    #   threshold 0.9: tau 0.05, caught E1          -> (0.05, 2/3)
    #   threshold 0.8: tau 0.10                      -> (0.10, 2/3)
    #   threshold 0.7: tau 0.15, caught E3          -> (0.15, 1/3)
    #   threshold 0.5: tau 0.20, caught E2          -> (0.20, 0)
    #   threshold 0.1: tau 1                          -> (1, 0)
    # ASS = 1 - area under nu = 1 - (0.05*(1+2/3)/2 + 0.05*2/3 + 0.05*(2/3+1/3)/2 + 0.05*(1/3)/2)
    #     = 1 - 13/120 = 107/120; equally 1 - mean(tau_j) with tau_j the mid-points 0.025, 0.125, 0.175.
    # Operating point (alarm = score >= 0.6: A d1, A d4, B d3): tau 3/20, hits E1 and E3, nu 1/3,
    # G = (2/3) / 0.15 = 40/9; binomial P(X >= 2 | 3, 0.15) = 3 * 0.15^2 * 0.85 + 0.15^3 = 0.06075.
    # Random ASS for 3 targets: P(sum of 3 uniforms <= 3 * 13/120 = 0.325) = 0.325^3 / 6.
    r = score_alarms(daily_rows(HAND_SCORES), HAND_EVENTS, STATIONS, HAND_RULE, n_boot=200, random_alarm_repeats=20)
    assert r["n_targets"] == 3 and r["n_target_events"] == 3
    assert sorted(t["event_id"] for t in r["targets"]) == ["E1", "E2", "E3"]
    curve = r["molchan"]
    assert curve["tau"] == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20, 1.0])
    assert curve["nu"] == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3, 0.0, 0.0])
    assert curve["threshold"] == [None, 0.9, 0.8, 0.7, 0.5, 0.1]
    assert r["ass"] == pytest.approx(107 / 120) and area_under(curve) == pytest.approx(107 / 120)
    op = r["operating_point"]
    assert (op["tau"], op["nu"], op["hits"]) == (pytest.approx(0.15), pytest.approx(1 / 3), 2)
    assert op["probability_gain"] == pytest.approx(40 / 9)
    assert op["p_value_random"] == pytest.approx(0.06075)
    assert r["random"]["p_value"] == pytest.approx(0.325 ** 3 / 6)
    assert r["space_time"]["station_days"] == pytest.approx(20.0)
    assert r["catalog"]["in_span_at_min_magnitude"] == 4  # E1, E2, E3, far
    assert [(s["station"], s["targets"], s["hits"]) for s in r["by_station"]] == [("AAA", 2, 1), ("BBB", 1, 1)]
    json.dumps(r, allow_nan=False)  # JSON-able, no NaN


def test_overlapping_lead_windows_take_the_highest_score_and_never_the_window_of_the_event():
    # One station, windows ending on days 1..4 scoring 0.2, 0.9, 0.1, 0.4, lead (0, 48 h]: the alarm function
    # is (1,2] 0.2, (2,3] 0.9, (3,4] 0.9, (4,5] 0.4, (5,6] 0.4 (5 days). Alarm (>= 0.5): (2,4], tau 0.4.
    # Targets at day 3.5 (0.9, hit) and day 5.5 (0.4, missed): tau_j = 0.2 and 0.6, ASS = 1 - 0.4 = 0.6,
    # points (0,1), (0.4, 0.5), (0.8, 0), (1, 0); G = 0.5 / 0.4 = 1.25.
    # An origin exactly at a window's end (day 2.0) belongs to (1, 2]: the window ending then cannot claim it.
    rule = TargetRule(radius="fixed", radius_km=50.0, lead_min_hours=0.0, lead_max_hours=48.0)
    rows = daily_rows({"AAA": [0.2, 0.9, 0.1, 0.4]}, threshold=0.5)
    r = score_alarms(rows, [event("x", 3.5, NEAR_A), event("y", 5.5, NEAR_A)], STATIONS, rule, n_boot=50,
                     random_alarm_repeats=0)
    assert r["ass"] == pytest.approx(0.6)
    assert r["molchan"]["tau"] == pytest.approx([0, 0.4, 0.8, 1])
    assert r["molchan"]["nu"] == pytest.approx([1, 0.5, 0, 0])
    assert r["operating_point"]["probability_gain"] == pytest.approx(1.25)
    edge = score_alarms(rows, [event("z", 2.0, NEAR_A)], STATIONS, rule, n_boot=0, random_alarm_repeats=0)
    assert edge["targets"][0]["score"] == 0.2 and edge["targets"][0]["alarm"] is False


def test_times_may_be_given_as_datetimes_datetime64_iso_strings_or_seconds():
    rows = daily_rows(HAND_SCORES)  # made from aware datetimes
    assert rows.end.dtype == np.dtype("datetime64[us]") and str(rows.end[0]) == "2023-01-02T00:00:00.000000"
    seconds = lambda t: t.astype(np.int64) / 1e6  # noqa: E731
    as_seconds = AlarmRows(rows.station, seconds(rows.start), seconds(rows.end), rows.score, rows.alarm)
    as_iso = AlarmRows(rows.station, [f"{t}Z" for t in rows.start], [f"{t}Z" for t in rows.end], rows.score,
                       rows.alarm)
    again = AlarmRows(rows.station, rows.start, rows.end, rows.score, rows.alarm)  # datetime64
    a = score_alarms(rows, HAND_EVENTS, STATIONS, HAND_RULE, n_boot=0, random_alarm_repeats=0)
    for other in (as_seconds, as_iso, again):
        b = score_alarms(other, HAND_EVENTS, STATIONS, HAND_RULE, n_boot=0, random_alarm_repeats=0)
        assert (b["ass"], b["molchan"]) == (a["ass"], a["molchan"])


def test_alarm_function_matches_a_brute_force_maximum():
    # irregular window ends (gaps, repeats) and a lead (2 h, 30 h]: at any time the alarm function is the
    # highest score of the windows with end + 2 h < t <= end + 30 h, and it is on when any of them alarms
    rng = np.random.default_rng(5)
    ends = np.sort(np.concatenate([rng.uniform(0, 20, 300), rng.uniform(40, 45, 50), [10.0, 10.0]]))
    score = rng.uniform(size=len(ends))
    alarm = rng.uniform(size=len(ends)) < 0.1
    rows = AlarmRows(np.array(["AAA"] * len(ends)), [day(e - 0.1) for e in ends], [day(e) for e in ends], score, alarm)
    rule = TargetRule(lead_min_hours=2.0, lead_max_hours=30.0)
    (st,) = SpaceTime.build(rows, rule).stations
    end_us, hour = rows.end.astype(np.int64), 3600 * 10**6
    t0_us = np.datetime64("2023-01-01T00:00:00", "us").astype(np.int64)
    t_us = np.concatenate([t0_us + (rng.uniform(-1, 47, 2000) * 24 * hour).astype(np.int64),
                           end_us + 2 * hour, end_us + 2 * hour + 1, end_us + 30 * hour, end_us + 30 * hour + 1])
    j, covered = st.lookup(t_us)
    for k in range(len(t_us)):
        speaking = (end_us + 2 * hour < t_us[k]) & (t_us[k] <= end_us + 30 * hour)
        assert covered[k] == speaking.any()
        if speaking.any():
            assert st.score[j[k]] == score[speaking].max() and st.alarm[j[k]] == alarm[speaking].any()


# ------------------------------------------------------------------------------------------ synthetic archives
def synthetic_archive(seed: int, n_stations: int = 6, days: int = 730, events_per_station: int = 40,
                      perfect: bool = False) -> tuple[AlarmRows, list[Event], dict[str, tuple[float, float]]]:
    """6-hourly windows at stations 3 degrees apart, events 10 km from a station at uniform random times.

    Scores are smoothed noise (alarms independent of the events); ``perfect`` raises to 0.95 the one window
    ending in the 6 h before each event at its station.
    """
    rng = np.random.default_rng(seed)
    stations = {f"S{k:02d}": (0.0, 100.0 + 3.0 * k) for k in range(n_stations)}
    step = 0.25
    ends = np.arange(1, int(days / step) + 1) * step
    station, start, end, score = [], [], [], []
    events = []
    for code, (lat, lon) in stations.items():
        noise = np.convolve(rng.uniform(size=len(ends) + 7), np.ones(8) / 8, mode="valid")  # correlated over 2 days
        s = noise / noise.max() * 0.8
        t_ev = rng.uniform(3, days - 1, size=events_per_station)
        for i, t in enumerate(t_ev):
            events.append(event(f"{code}-{i}", float(t), (lat + 0.09, lon), magnitude=5.0))
            if perfect:
                s[(ends >= t - 0.25) & (ends < t)] = 0.95
        station += [code] * len(ends)
        start += list(ends - step)
        end += list(ends)
        score += list(s)
    score = np.array(score)
    to_s = lambda d: T0.timestamp() + np.asarray(d) * 86400  # noqa: E731
    rows = AlarmRows(np.array(station), to_s(start), to_s(end), score, score >= 0.9 if perfect else score >= 0.6)
    return rows, sorted(events, key=lambda e: e.time), stations


SYN_RULE = TargetRule(min_magnitude=4.0, radius="fixed", radius_km=50.0, lead_min_hours=0.0, lead_max_hours=48.0)
SHORT_LEAD = TargetRule(min_magnitude=4.0, radius="fixed", radius_km=50.0, lead_min_hours=0.0, lead_max_hours=12.0)


def test_precursor_free_archive_scores_at_chance():
    rows, events, stations = synthetic_archive(seed=1)
    r = score_alarms(rows, events, stations, SYN_RULE, n_boot=300, random_alarm_repeats=50)
    assert r["n_targets"] == 240
    lo, hi = r["ass_interval"]
    assert lo < 0.5 < hi and hi - lo < 0.1
    g_lo, g_hi = r["operating_point"]["gain_interval"]
    assert g_lo < 1 < g_hi
    assert 0.02 < r["random"]["p_value"] < 0.98
    ra = r["controls"]["random_alarm"]
    assert ra["ass_interval"][0] < 0.5 < ra["ass_interval"][1] and 0.05 < ra["ass_p_value"] < 0.95


def test_perfect_predictor_scores_near_one_and_the_shifted_catalogue_takes_it_away():
    # each alarm speaks for 12 h: 240 events take about 240 * 0.5 / (6 * 730) = 2.7% of the space-time
    rows, events, stations = synthetic_archive(seed=2, perfect=True)
    r = score_alarms(rows, events, stations, SHORT_LEAD, n_boot=300, random_alarm_repeats=50)
    op = r["operating_point"]
    assert r["ass"] > 0.95 and r["ass_interval"][0] > 0.9
    assert op["nu"] == 0 and op["probability_gain"] > 10 and op["gain_interval"][0] > 10
    assert r["random"]["p_value"] < 1e-10 and op["p_value_random"] < 1e-10
    ra = r["controls"]["random_alarm"]
    assert ra["ass_p_value"] == pytest.approx(1 / 51) and ra["ass_interval"][1] < 0.7
    (shifted,) = r["controls"]["shifted_catalog"]
    assert shifted["shift_days"] == pytest.approx(r["space_time"]["span_days"] / 2)
    assert shifted["n_targets"] > 200
    assert shifted["ass_interval"][0] < 0.5 < shifted["ass_interval"][1] + 0.05
    assert shifted["operating_point"]["probability_gain"] < 2


def test_bootstrap_can_group_targets_by_time_block():
    rows, events, stations = synthetic_archive(seed=1)
    by_event = score_alarms(rows, events, stations, SYN_RULE, n_boot=200, random_alarm_repeats=0, shift_days=[])
    by_block = score_alarms(rows, events, stations, SYN_RULE, n_boot=200, random_alarm_repeats=0, shift_days=[],
                            cluster_days=30)
    assert by_block["ass"] == by_event["ass"] and by_block["ass_interval"] != by_event["ass_interval"]
    assert by_block["bootstrap"]["unit"] == "time block of 30 days"
    assert by_event["controls"]["shifted_catalog"] == [] and by_event["controls"]["random_alarm"] is None


# ------------------------------------------------------------------------------------------ target selection
@pytest.mark.parametrize(("rule", "expected"), [
    # events 44.5 km north of the station (0.4 degrees): M6 (detection range 60 km), M5 (20 km), M3.9
    (TargetRule(min_magnitude=4.0), {"m6"}),
    (TargetRule(min_magnitude=4.0, radius="dobrovolsky"), {"m6", "m5"}),  # 380 and 141 km
    (TargetRule(min_magnitude=3.5, radius="dobrovolsky"), {"m6", "m5", "m3.9"}),  # M3.9: 47.6 km
    (TargetRule(min_magnitude=5.0, radius="dobrovolsky"), {"m6", "m5"}),  # inclusive
    (TargetRule(min_magnitude=3.0, radius="fixed", radius_km=30.0), set()),
    (TargetRule(min_magnitude=3.0, radius=lambda m: 45.0 if m < 4 else 0.0), {"m3.9"}),
])
def test_targets_are_chosen_by_magnitude_and_radius(rule, expected):
    events = [event("m6", 2.5, (0.4, 100.0), 6.0), event("m5", 3.5, (0.4, 100.0), 5.0),
              event("m3.9", 4.5, (0.4, 100.0), 3.9)]
    rows = daily_rows({"AAA": [0.5] * 6})
    r = score_alarms(rows, events, STATIONS, rule, n_boot=0, random_alarm_repeats=0, shift_days=[])
    assert {t["event_id"] for t in r["targets"]} == expected


def test_radius_formulas():
    assert dobrovolsky_radius_km(5.0) == pytest.approx(141.25, abs=0.01)
    assert detection_range_km(6.0) == 60.0 and detection_range_km(4.0) == 0.0
    assert TargetRule(radius="dobrovolsky").radius_at(6.0) == pytest.approx(10 ** 2.58)
    with pytest.raises(ValueError, match="radius must be one of"):
        TargetRule(radius="huge")
    with pytest.raises(ValueError, match="lead_max_hours"):
        TargetRule(lead_min_hours=48, lead_max_hours=24)


def test_station_weights_change_the_space_time_measure():
    # Weight BBB three times: 10 + 30 = 40 weighted days; the operating point's alarms (A d1, A d4, B d3)
    # cover (1 + 1 + 3) / 40 = 0.125.
    r = score_alarms(daily_rows(HAND_SCORES), HAND_EVENTS, STATIONS, HAND_RULE,
                     station_weights={"AAA": 1.0, "BBB": 3.0}, n_boot=0, random_alarm_repeats=0)
    assert r["operating_point"]["tau"] == pytest.approx(0.125)
    with pytest.raises(ValueError, match="no weight for station BBB"):
        score_alarms(daily_rows(HAND_SCORES), HAND_EVENTS, STATIONS, HAND_RULE, station_weights={"AAA": 1.0})


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no coordinates for station CCC"):
        score_alarms(daily_rows({"CCC": [0.1]}), HAND_EVENTS, STATIONS, HAND_RULE)
    with pytest.raises(ValueError, match="NaN"):
        AlarmRows(np.array(["AAA"]), [day(0)], [day(1)], [np.nan], [False])
    with pytest.raises(ValueError, match="end before they start"):
        AlarmRows(np.array(["AAA"]), [day(1)], [day(0)], [0.1], [False])


# ------------------------------------------------------------------------------------------ random predictor
def test_random_ass_for_n_targets():
    one = random_ass(1, ass=0.9)
    assert one["p_value"] == pytest.approx(0.1) and one["interval"] == pytest.approx([0.025, 0.975])
    many = random_ass(300, ass=0.5)
    assert many["p_value"] == pytest.approx(0.5) and many["sd"] == pytest.approx(1 / math.sqrt(3600))
    exact, gauss = random_ass(40), random_ass(41)
    assert exact["interval"][1] == pytest.approx(gauss["interval"][1], abs=0.003)  # Irwin-Hall ~ Gaussian by then


def test_grouped_bootstrap_draws_whole_groups_as_documented():
    groups = np.array(["b", "a", "b", "c", "a"])
    rows_of = {"a": [1, 4], "b": [0, 2], "c": [3]}
    seen = []
    reps = grouped_bootstrap(groups, lambda idx: (seen.append(idx), (len(idx), 1.0))[1], n_boot=20, seed=3)
    rng = np.random.default_rng(3)
    for idx in seen:  # one rng.integers(0, G, G) per replicate over the sorted groups; rows in their order
        pick = rng.integers(0, 3, size=3)
        assert list(idx) == [row for p in pick for row in rows_of["abc"[p]]]
    assert reps.shape == (20, 2)
    assert grouped_bootstrap_ci(["x", "x"], lambda idx: 1.0) is None  # one group: no interval


# ------------------------------------------------------------------------------------------ report
def test_report_writer_produces_markdown_and_pngs(tmp_path):
    rows, events, stations = synthetic_archive(seed=2, perfect=True, n_stations=2, days=200, events_per_station=10)
    r = score_alarms(rows, events, stations, SYN_RULE, n_boot=100, random_alarm_repeats=30)
    written = write_skill_report(r, tmp_path / "skill")
    names = sorted(p.name for p in written)
    assert names == ["molchan.png", "random_alarm.png", "report.md", "skill.json"]
    for png in ("molchan.png", "random_alarm.png"):
        assert (tmp_path / "skill" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "skill" / "report.md").read_text()
    assert "| area skill score |" in md and "![molchan.png](molchan.png)" in md and "catalogue shifted" in md
    assert json.loads((tmp_path / "skill" / "skill.json").read_text())["ass"] == r["ass"]
    assert sorted(p.name for p in (tmp_path / "skill").iterdir()) == names  # no temporary files left
