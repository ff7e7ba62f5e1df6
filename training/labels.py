"""Label analysis windows from a catalogue: the same code for simulated and real archives.

An *event window* ends before an earthquake's origin time, by at most ``lead_hours``, at a station
inside the label radius for the event's magnitude, ``R(M) = (M - m0) * km_per_magnitude`` (by default
the empirical detection range 0.025 R < M - 4.5). When several events qualify the largest labels it.
A *Normal window* has no event of M >= ``exclusion_min_magnitude`` within its exclusion radius (the
Dobrovolsky radius 10^(0.43 M) km, or the label radius, times ``exclusion_radius_factor``) from
``exclusion_after_hours`` before the window to ``exclusion_before_hours`` after it. Everything else is *excluded* (neither clean event nor clean Normal) and kept only with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import numpy as np

from model_store.catalog import Event
from model_store.geodesy import distance_km, initial_bearing_deg
from model_store.labels import NORMAL, azimuth_class, magnitude_class
from model_store.skill import detection_range_km, dobrovolsky_radius_km
from model_store.config import DictConfig

from .catalog import KpSeries

EVENT, NORMAL_KIND, EXCLUDED = "event", "normal", "excluded"
EXCLUSION_RADII = ("dobrovolsky", "label")


@dataclass(frozen=True)
class LabelRule(DictConfig):
    config_name = "label settings"

    lead_hours: float = 48.0
    min_magnitude: float = 4.0
    m0: float = 4.5
    km_per_magnitude: float = 40.0
    exclusion_before_hours: float = 7 * 24.0
    exclusion_after_hours: float = 24.0
    exclusion_min_magnitude: float = 4.0
    # radius inside which an event excludes a Normal window: "dobrovolsky" (10^(0.43 M) km, the usual
    # outer bound when the physics is unknown) or "label" (the label radius R(M), which for a simulated
    # world is exactly how far an emission reaches)
    exclusion_radius: str = "dobrovolsky"
    # the exclusion radius is the named radius times this factor: in a simulated world whose source
    # strengths scatter, the loudest source of magnitude M reaches beyond the label radius R(M)
    exclusion_radius_factor: float = 1.0
    time_block_days: int = 14

    def __post_init__(self) -> None:
        if self.exclusion_radius not in EXCLUSION_RADII:
            raise ValueError(f"exclusion_radius must be one of {EXCLUSION_RADII}")
        if not self.exclusion_radius_factor >= 1.0:
            raise ValueError("exclusion_radius_factor must be >= 1 (the exclusion radius may not shrink)")

    def radius_km(self, magnitude: float) -> float:
        return detection_range_km(magnitude, self.m0, self.km_per_magnitude)

    @staticmethod
    def dobrovolsky_km(magnitude: float) -> float:
        return dobrovolsky_radius_km(magnitude)

    def exclusion_km(self, magnitude: float) -> float:
        base = self.dobrovolsky_km(magnitude) if self.exclusion_radius == "dobrovolsky" else self.radius_km(magnitude)
        return base * self.exclusion_radius_factor


MAGNITUDE_STEPS = 100  # magnitudes checked between the smallest that can emit and the largest drawn


def consistency_problems(rule: LabelRule, *, detection_m0: float, detection_km_per_magnitude: float,
                         max_lead_hours: float, magnitudes: tuple[float, float],
                         max_reach_km: Callable[[float], float] | None = None) -> list[str]:
    """Where a labelling rule contradicts the physics of the world it labels (empty if consistent).

    Event windows must be labelled inside the detection range (where the median source of each
    magnitude is received at the simulator's amplitude_at_range_nt), and Normal windows must exclude
    every event that could still emit into them: every magnitude that can emit, for at least the longest
    lead, within a radius no smaller than the farthest any source of that magnitude reaches
    (``max_reach_km(M)``; the detection range itself when not given), at every magnitude drawn.
    """
    problems = []
    if not math.isclose(rule.m0, detection_m0) or not math.isclose(rule.km_per_magnitude, detection_km_per_magnitude):
        problems.append(f"label radius ({rule.m0:g}, {rule.km_per_magnitude:g} km/M) differs from the detection range "
                        f"({detection_m0:g}, {detection_km_per_magnitude:g} km/M)")
    if rule.exclusion_min_magnitude > detection_m0:
        problems.append(f"exclusion_min_magnitude {rule.exclusion_min_magnitude:g} is above the smallest magnitude that "
                        f"can emit ({detection_m0:g}): Normal windows would carry emissions")
    if rule.exclusion_before_hours < max_lead_hours:
        problems.append(f"exclusion_before_hours {rule.exclusion_before_hours:g} is shorter than the longest emission "
                        f"lead ({max_lead_hours:g} h): Normal windows would carry emissions")
    def reach(m: float) -> float:
        return max_reach_km(m) if max_reach_km else detection_range_km(m, detection_m0, detection_km_per_magnitude)

    lo, hi = max(magnitudes[0], detection_m0), magnitudes[1]
    grid = [lo + (hi - lo) * k / MAGNITUDE_STEPS for k in range(MAGNITUDE_STEPS + 1)] if hi >= lo else []
    for m in grid:
        if rule.exclusion_km(m) < reach(m) - 1e-9:
            what = "the reach of the loudest source" if max_reach_km else "the detection range"
            problems.append(f"at M{m:.2f} the exclusion radius ({rule.exclusion_km(m):.0f} km) is inside {what} "
                            f"({reach(m):.0f} km): Normal windows would carry emissions")
            break  # the first magnitude where it fails is enough to say so
    return problems


@dataclass
class WindowLabel:
    station: str
    start: datetime
    end: datetime
    kind: str  # event | normal | excluded
    magnitude_class: str
    azimuth_class: str
    reason: str
    event_id: str = ""
    magnitude: float | None = None
    distance_km: float | None = None
    bearing_deg: float | None = None
    lead_hours: float | None = None
    kp_max: float | None = None
    valid_fraction: float = 1.0
    local_hour: float = 0.0
    day_of_year: int = 0
    emission_nt: float | None = None  # simulated ground truth: strongest emission received in the window
    event_emission_nt: float | None = None  # ... and the labelled event's own


class Labeller:
    def __init__(self, events: list[Event], rule: LabelRule, kp: KpSeries | None = None) -> None:
        self.rule = rule
        self.kp = kp
        self.events = [e for e in events if e.magnitude >= rule.min_magnitude]
        self._times = np.array([e.time.timestamp() for e in self.events])

    def _between(self, t0: datetime, t1: datetime) -> list[Event]:
        i0, i1 = np.searchsorted(self._times, [t0.timestamp(), t1.timestamp()], side="right")
        return self.events[i0:i1]

    def label(self, station: str, lat: float, lon: float, start: datetime, end: datetime,
              valid_fraction: float = 1.0) -> WindowLabel:
        r = self.rule
        base = dict(
            station=station, start=start, end=end, valid_fraction=valid_fraction,
            kp_max=self.kp.max_between(start, end) if self.kp else None,
            local_hour=round(((start.hour + start.minute / 60) + lon / 15) % 24, 2),
            day_of_year=start.timetuple().tm_yday,
        )
        # event windows: the largest qualifying event whose origin follows the window within the lead
        best = None
        for e in self._between(end - timedelta(microseconds=1), end + timedelta(hours=r.lead_hours)):
            if e.time <= end:
                continue
            d = distance_km(lat, lon, e.latitude, e.longitude)
            if d <= r.radius_km(e.magnitude) and (best is None or e.magnitude > best[0].magnitude):
                best = (e, d)
        if best:
            e, d = best
            b = initial_bearing_deg(lat, lon, e.latitude, e.longitude)
            lead = (e.time - end).total_seconds() / 3600
            return WindowLabel(
                **base, kind=EVENT, magnitude_class=magnitude_class(e.magnitude), azimuth_class=azimuth_class(b),
                event_id=e.event_id, magnitude=e.magnitude, distance_km=round(d, 2), bearing_deg=round(b, 2),
                lead_hours=round(lead, 2),
                reason=(f"M{e.magnitude:.1f} {d:.0f} km away (label radius {r.radius_km(e.magnitude):.0f} km), "
                        f"origin {lead:.1f} h after the window"),
            )
        # Normal unless an event could plausibly affect the window (exclusion radius, time margin)
        t0 = start - timedelta(hours=r.exclusion_after_hours)
        t1 = end + timedelta(hours=r.exclusion_before_hours)
        for e in self._between(t0, t1):
            if e.magnitude < r.exclusion_min_magnitude:
                continue
            d = distance_km(lat, lon, e.latitude, e.longitude)
            if d <= r.exclusion_km(e.magnitude):
                hours = (e.time - end).total_seconds() / 3600
                return WindowLabel(
                    **base, kind=EXCLUDED, magnitude_class="", azimuth_class="", event_id=e.event_id,
                    magnitude=e.magnitude, distance_km=round(d, 2),
                    reason=(f"excluded: M{e.magnitude:.1f} {d:.0f} km away is inside its {self._radius_name} "
                            f"({r.exclusion_km(e.magnitude):.0f} km), origin {hours:+.1f} h from the window end, "
                            f"but outside the label rule"),
                )
        return WindowLabel(
            **base, kind=NORMAL_KIND, magnitude_class=NORMAL, azimuth_class=NORMAL,
            reason=(f"no M>={r.exclusion_min_magnitude:g} event within its {self._radius_name} from "
                    f"{r.exclusion_after_hours:g} h before to {r.exclusion_before_hours:g} h after the window"),
        )

    @property
    def _radius_name(self) -> str:
        return "Dobrovolsky radius" if self.rule.exclusion_radius == "dobrovolsky" else "label radius"


def _circular_days(a: int, b: int) -> int:
    d = abs(a - b) % 365
    return min(d, 365 - d)


@dataclass
class Selection:
    normals: list[WindowLabel]
    unmatched_events: list[WindowLabel]  # matched strategy: event windows whose station had no Normal left


def _hour_distance(a: WindowLabel, b: WindowLabel) -> float:
    d = abs(a.start.hour - b.start.hour) % 24
    return min(d, 24 - d)


def select_normals(labels: list[WindowLabel], ratio: float, strategy: str, rng: np.random.Generator) -> Selection:
    """Choose Normal windows to go with the event windows.

    ``matched``: for each event window, ``round(ratio)`` unused Normal windows **at the same station**,
    nearest in UTC hour (so local time; the same hour first), then in season, then in Kp; an event window
    whose station has no Normal left is returned as unmatched (the dataset drops it), so every station
    holds as many Normal windows as event windows and station identity says nothing about the label.
    ``storm``: the Normal windows of highest Kp (a storm-only Normal set, for falsification); ``all``:
    every Normal window.
    """
    normals = [w for w in labels if w.kind == NORMAL_KIND]
    events = [w for w in labels if w.kind == EVENT]
    if strategy == "all":
        return Selection(normals, [])
    want = int(math.ceil(ratio * len(events)))
    if strategy == "storm":
        order = sorted(normals, key=lambda w: (-(w.kp_max or 0), w.station, w.start))
        return Selection(order[:want], [])
    if strategy != "matched":
        raise ValueError(f"unknown normal selection {strategy!r} (matched, storm, all)")
    pool: dict[str, list[WindowLabel]] = {}
    for w in normals:
        pool.setdefault(w.station, []).append(w)
    chosen: list[WindowLabel] = []
    unmatched: list[WindowLabel] = []
    used: set[int] = set()
    picks_per_event = max(1, int(round(ratio)))
    for ev in sorted(events, key=lambda w: (w.station, w.start)):
        if len(chosen) >= want:
            break
        cands = [w for w in pool.get(ev.station, []) if id(w) not in used]
        if len(cands) < picks_per_event:
            unmatched.append(ev)
            continue
        cands.sort(key=lambda w: (_hour_distance(w, ev), _circular_days(w.day_of_year, ev.day_of_year) // 7,
                                  abs((w.kp_max or 0) - (ev.kp_max or 0)), w.start))
        for best in cands[:picks_per_event]:
            used.add(id(best))
            chosen.append(best)
    return Selection(chosen[:want], unmatched)
