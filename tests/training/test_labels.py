"""Labelling on hand-computed geometries, Normal matching, and the real LUT day."""

from datetime import datetime, timedelta, timezone

import numpy as np

from model_store.catalog import Event
from training.catalog import KpSeries
from training.labels import EVENT, EXCLUDED, NORMAL_KIND, Labeller, LabelRule, select_normals

T0 = datetime(2023, 3, 1, tzinfo=timezone.utc)
STATION = ("LUT", -8.21959, 116.407)
RULE = LabelRule()  # R = (M - 4.5) * 40 km: M6 -> 60 km


def _north(km: float) -> tuple[float, float]:
    return STATION[1] + km / 111.195, STATION[2]


def _label(events, start=T0, **rule):
    lab = Labeller(events, LabelRule(**rule) if rule else RULE)
    code, lat, lon = STATION
    return lab.label(code, lat, lon, start, start + timedelta(hours=6))


def _event(eid, km, mag, hours_after_window, bearing="N"):
    lat, lon = _north(km)
    if bearing == "E":
        lat, lon = STATION[1], STATION[2] + km / (111.195 * np.cos(np.radians(STATION[1])))
    return Event(eid, T0 + timedelta(hours=6 + hours_after_window), lat, lon, 10.0, mag)


def test_close_large_event_labels_the_lead_window():
    w = _label([_event("a", 50, 6.2, 10)])
    assert (w.kind, w.magnitude_class, w.azimuth_class, w.event_id) == (EVENT, "Large", "N", "a")
    assert abs(w.distance_km - 50) < 0.5 and abs(w.bearing_deg) < 0.5 and w.lead_hours == 10.0


def test_due_east_medium_event():
    w = _label([_event("b", 20, 5.3, 3, bearing="E")])  # R(5.3) = 32 km
    assert (w.magnitude_class, w.azimuth_class) == ("Medium", "E")


def test_out_of_range_event_is_excluded_not_normal():
    w = _label([_event("c", 70, 6.0, 10)])  # beyond 60 km, inside Dobrovolsky (380 km)
    assert w.kind == EXCLUDED and "Dobrovolsky" in w.reason


def test_far_or_late_events_leave_a_normal_window():
    far = _label([_event("d", 600, 6.0, 10)])
    assert far.kind == NORMAL_KIND and far.magnitude_class == "Normal" and far.azimuth_class == "Normal"
    late = _label([_event("e", 50, 6.2, 24 * 10)])  # after lead and exclusion time
    assert late.kind == NORMAL_KIND


def test_origin_beyond_the_lead_is_not_an_event_window():
    w = _label([_event("f", 50, 6.2, 60)])
    assert w.kind == EXCLUDED


def test_largest_qualifying_event_wins():
    w = _label([_event("small", 10, 4.8, 5), _event("big", 40, 6.5, 20)])
    assert w.event_id == "big" and w.magnitude_class == "Large"


def test_matched_normals_share_station_and_local_time():
    kp = KpSeries([T0 + timedelta(hours=3 * i) for i in range(8 * 60)], [1.0] * (8 * 60))
    lab = Labeller([_event("a", 50, 6.2, 10)], RULE, kp)
    code, lat, lon = STATION
    windows = [lab.label(code, lat, lon, T0 + timedelta(hours=6 * k), T0 + timedelta(hours=6 * k + 6))
               for k in range(4 * 60)]
    events = [w for w in windows if w.kind == EVENT]
    selection = select_normals(windows, 1.0, "matched", np.random.default_rng(0))
    chosen = selection.normals
    assert len(chosen) == len(events) >= 1 and selection.unmatched_events == []
    assert all(n.kind == NORMAL_KIND and n.station == "LUT" for n in chosen)
    assert sorted(n.start.hour for n in chosen) == sorted(e.start.hour for e in events)  # same local times


def test_matching_never_borrows_another_stations_normals():
    """A station with event windows but no Normal window left gets none from elsewhere: its event
    windows are reported unmatched, so station identity cannot tell events from Normals."""
    code, lat, lon = STATION
    lab = Labeller([_event("a", 50, 6.2, 10)], RULE, None)
    windows = [lab.label(code, lat, lon, T0 + timedelta(hours=6 * k), T0 + timedelta(hours=6 * k + 6))
               for k in range(4 * 60)]
    events = [w for w in windows if w.kind == EVENT]
    elsewhere = [lab.label("GTO", 0.5, 123.0, T0 + timedelta(hours=6 * k), T0 + timedelta(hours=6 * k + 6))
                 for k in range(40)]
    selection = select_normals(events + elsewhere, 1.0, "matched", np.random.default_rng(0))
    assert selection.normals == [] and selection.unmatched_events == events


def test_storm_selection_takes_the_most_active_normal_windows():
    n_blocks = 8 * 60
    kp = KpSeries([T0 + timedelta(hours=3 * i) for i in range(n_blocks)], [1.0 + (i % 24 == 5) * 6 for i in range(n_blocks)])
    lab = Labeller([_event("a", 50, 6.2, 10)], RULE, kp)
    code, lat, lon = STATION
    windows = [lab.label(code, lat, lon, T0 + timedelta(hours=6 * k), T0 + timedelta(hours=6 * k + 6))
               for k in range(4 * 60)]
    chosen = select_normals(windows, 1.0, "storm", np.random.default_rng(0)).normals
    assert chosen and all(w.kp_max == 7.0 for w in chosen)


def test_skill_target_rule_defaults_are_the_label_rule():
    from model_store.skill import TargetRule

    rule, target = LabelRule(), TargetRule()
    assert (target.min_magnitude, target.m0, target.km_per_magnitude, target.lead_min_hours, target.lead_max_hours) == (
        rule.min_magnitude, rule.m0, rule.km_per_magnitude, 0.0, rule.lead_hours)
    assert all(target.radius_at(m) == rule.radius_km(m) for m in (4.0, 5.0, 6.5))
