"""Skill of alarms against an earthquake catalogue: Molchan diagram, area skill score, probability gain.

Pure numpy/scipy (matplotlib only inside :func:`write_skill_report`). The inputs are analysis windows
(``station, start, end, score, alarm``: :class:`AlarmRows`), catalogue events
(:class:`model_store.catalog.Event`) and station coordinates; :func:`score_alarms` returns a JSON-able
dict and :func:`write_skill_report` renders it as Markdown with PNG figures.

Definitions (each is also written into the result under ``definitions``):

* **Targets.** An event is a target for a station when its magnitude is at least ``min_magnitude`` and
  its epicentre lies within the rule's radius of the station: the detection range
  ``(M - m0) * km_per_magnitude`` (default, as the training labels), the Dobrovolsky radius
  ``10^(0.43 M)`` km, or a fixed radius. A target is an (event, station) pair: an event near two stations
  is two targets, one in each station's space-time. Only events inside the space-time the windows
  cover can be targets (an event during a data gap is neither hit nor missed).
* **What an alarm speaks for.** A window's score is known at its ``end``; it speaks for the times
  ``(end + lead_min, end + lead_max]`` at its station (the training labels' rule: the origin follows
  the window's end by at most ``lead_hours``). The start of a window does not enter the maths, so an
  event inside the window it is detected in is never counted as predicted. Where several windows speak
  for the same time (overlapping lead windows), the alarm function there is their highest score: an
  alarm at threshold s is on at time t when any window speaking for t has score >= s; a target is
  *predicted* at threshold s when the alarm function at its origin time is >= s.
* **Space-time and its weighting.** The space-time is the union over stations of the times the windows
  speak for, measured in station-seconds with a weight per station (uniform by default: every
  station-second counts the same; pass ``station_weights``, e.g. a seismicity rate, for another reference
  model). ``tau(s)`` is the weighted fraction of it where the alarm function is >= s.
* **Molchan diagram.** For every threshold s over the distinct values of the alarm function, the miss
  rate ``nu(s)`` (fraction of targets not predicted) against ``tau(s)``; consecutive points are joined by
  straight lines (ties between targets and space-time are split evenly). The random-alarm line is
  ``nu = 1 - tau``.
* **Area skill score** (Zechar & Jordan 2008, GJI 172:715, the ASS at tau = 1): the area above the
  Molchan trajectory, ``ASS = integral_0^1 (1 - nu(tau)) dtau``; equivalently ``1 - mean_j tau_j`` with
  ``tau_j`` the alarm fraction at which target j is first predicted (mid-point over ties). 1 for a perfect
  alarm, 0.5 for random alarms, 0 for the worst. For N independent targets under random alarms it is the
  mean of N uniforms (Irwin-Hall): mean 1/2, variance 1/(12 N).
* **Probability gain at the operating point** (the ``alarm`` column): ``G = (1 - nu) / tau``; 1 is chance.
* **Bootstrap** (:func:`model_store.stats.grouped_bootstrap`): targets are resampled by catalogue event
  (all stations of one event together), or by blocks of ``cluster_days`` to keep aftershock sequences
  together; the alarms, and so ``tau``, are held fixed: the question is how well these alarms caught a
  finite sample of earthquakes, not how the alarm rate would vary in another period.
* **Controls.** The catalogue shifted circularly in time within the archive span (by half the span unless
  ``shift_days`` says otherwise) and scored the same way; and random alarms: the alarm series moved by
  ``random_alarm_repeats`` random circular offsets (same alarm fraction and clustering, done by moving
  the catalogue the other way), giving the distribution of ASS and G for alarms unrelated to the events.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .catalog import Event, format_time
from .fileio import atomic_write_bytes, atomic_write_text, parse_utc
from .geodesy import distance_km
from .stats import grouped_bootstrap, percentile_interval

US = 1_000_000  # times are int64 microseconds since 1970-01-01 UTC inside this module
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RADIUS_RULES = ("detection", "dobrovolsky", "fixed")


# ------------------------------------------------------------------------------------------ target rule
def dobrovolsky_radius_km(magnitude: float) -> float:
    """Strain radius of an earthquake, ``10^(0.43 M)`` km (Dobrovolsky et al. 1979)."""
    return 10 ** (0.43 * magnitude)


def detection_range_km(magnitude: float, m0: float = 4.5, km_per_magnitude: float = 40.0) -> float:
    """Empirical detection range ``(M - m0) * km_per_magnitude`` km (0.025 R < M - 4.5 by default), >= 0."""
    return max(0.0, (magnitude - m0) * km_per_magnitude)


@dataclass(frozen=True)
class TargetRule:
    """Which catalogue events are targets for a station, and which windows speak for them.

    ``radius``: ``"detection"`` (``detection_range_km(M, m0, km_per_magnitude)``), ``"dobrovolsky"``
    (``dobrovolsky_radius_km(M)``), ``"fixed"`` (``radius_km``), or any callable magnitude -> km.
    Defaults are the training labels' (``training.labels.LabelRule``): M >= 4, the detection range with
    m0 4.5 and 40 km per magnitude unit, origin within 48 h after the window's end.
    """

    min_magnitude: float = 4.0
    radius: str | Callable[[float], float] = "detection"
    radius_km: float = 100.0
    m0: float = 4.5
    km_per_magnitude: float = 40.0
    lead_min_hours: float = 0.0
    lead_max_hours: float = 48.0

    def __post_init__(self) -> None:
        if not callable(self.radius) and self.radius not in RADIUS_RULES:
            raise ValueError(f"radius must be one of {RADIUS_RULES} or a callable, not {self.radius!r}")
        if not self.lead_max_hours > self.lead_min_hours:
            raise ValueError("lead_max_hours must be larger than lead_min_hours")

    def radius_at(self, magnitude: float) -> float:
        if callable(self.radius):
            return float(self.radius(magnitude))
        if self.radius == "dobrovolsky":
            return dobrovolsky_radius_km(magnitude)
        if self.radius == "fixed":
            return self.radius_km
        return detection_range_km(magnitude, self.m0, self.km_per_magnitude)

    def describe(self) -> dict[str, Any]:
        if callable(self.radius):
            radius = f"custom: {getattr(self.radius, '__name__', repr(self.radius))}(M) km"
        elif self.radius == "dobrovolsky":
            radius = "Dobrovolsky radius 10^(0.43 M) km"
        elif self.radius == "fixed":
            radius = f"fixed {self.radius_km:g} km"
        else:
            radius = f"detection range (M - {self.m0:g}) * {self.km_per_magnitude:g} km"
        d = {k: v for k, v in asdict(self).items() if k != "radius"}
        d["radius"] = self.radius if isinstance(self.radius, str) else "custom"
        d["text"] = (f"M >= {self.min_magnitude:g} within the {radius} of the station; predicted when a window of "
                     f"that station ending {self.lead_min_hours:g} to {self.lead_max_hours:g} h before the origin "
                     f"scores at or above the threshold")
        return d


# ------------------------------------------------------------------------------------------ inputs
def _to_us(values: Any) -> np.ndarray:
    """Times as int64 microseconds since 1970 UTC: datetime64, datetimes (naive = UTC), ISO strings, or seconds."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]").astype(np.int64)
    if arr.dtype.kind in "iuf":
        return np.round(arr.astype(float) * US).astype(np.int64)

    def one(v: Any) -> int:
        if isinstance(v, str):
            v = parse_utc(v)
        if isinstance(v, np.datetime64):
            return int(v.astype("datetime64[us]").astype(np.int64))
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return (v - EPOCH) // timedelta(microseconds=1)

    return np.array([one(v) for v in arr.ravel()], dtype=np.int64).reshape(arr.shape)


def _iso(t_us: int) -> str:
    return format_time(EPOCH + timedelta(microseconds=int(t_us)))


@dataclass(frozen=True, eq=False)
class AlarmRows:
    """Analysis windows with their alarm scores, one row each (a station's or a network's).

    ``station`` codes; ``start``/``end`` as datetime64, datetimes (naive = UTC), ISO strings or seconds since
    1970; ``score`` (larger = more alarming, e.g. P(event) or 1 - a background p-value); ``alarm`` the
    operating point's decision (None: no operating point). Times are held as ``datetime64[us]`` (UTC).
    """

    station: np.ndarray
    start: np.ndarray
    end: np.ndarray
    score: np.ndarray
    alarm: np.ndarray | None = None

    def __post_init__(self) -> None:
        station = np.asarray(self.station).astype(str)
        start, end = _to_us(self.start).astype("datetime64[us]"), _to_us(self.end).astype("datetime64[us]")
        score = np.asarray(self.score, dtype=float)
        n = len(station)
        alarm = None if self.alarm is None else np.asarray(self.alarm, dtype=bool)
        for name, a in (("start", start), ("end", end), ("score", score), ("alarm", alarm)):
            if a is not None and a.shape != (n,):
                raise ValueError(f"AlarmRows.{name} has shape {a.shape}, station has ({n},)")
        if n == 0:
            raise ValueError("AlarmRows has no rows")
        if not np.isfinite(score).all():
            raise ValueError("AlarmRows.score holds NaN or infinite values")
        if (end < start).any():
            raise ValueError("AlarmRows has windows that end before they start")
        for name, a in (("station", station), ("start", start), ("end", end), ("score", score), ("alarm", alarm)):
            object.__setattr__(self, name, a)

    def __len__(self) -> int:
        return len(self.station)


# ------------------------------------------------------------------------------------------ space-time
def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``max(values[lo[i]:hi[i]])`` for every i (all ranges non-empty), by a sparse table built level by level."""
    out = np.empty(len(lo))
    length = hi - lo
    level_of = np.frexp(length.astype(float))[1] - 1  # floor(log2(length)), exact
    level, width, k = values, 1, 0
    top = int(level_of.max()) if len(lo) else -1
    while k <= top:
        m = level_of == k
        if m.any():
            out[m] = np.maximum(level[lo[m]], level[hi[m] - width])
        level = np.maximum(level[:-width], level[width:])  # level k+1: max over [i, i + 2 width)
        width, k = width * 2, k + 1
    return out


@dataclass
class _Station:
    code: str
    bounds: np.ndarray  # (n + 1,) int64 us; segment j is (bounds[j], bounds[j + 1]]
    covered: np.ndarray  # (n,) bool: some window speaks for it
    score: np.ndarray  # (n,) alarm function (highest score of the windows speaking for it)
    alarm: np.ndarray  # (n,) some alarmed window speaks for it
    weight: float

    def lookup(self, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index of each time and whether it is covered."""
        j = np.searchsorted(self.bounds, t_us, side="left") - 1
        ok = (j >= 0) & (j < len(self.covered))
        j = np.where(ok, j, 0)
        return j, ok & self.covered[j]


def _station_segments(code: str, end_us: np.ndarray, score: np.ndarray, alarm: np.ndarray, lead_min_us: int,
                      lead_max_us: int, weight: float) -> _Station:
    order = np.argsort(end_us, kind="stable")
    e, sc, al = end_us[order], score[order], alarm[order]
    bounds = np.unique(np.concatenate([e + lead_min_us, e + lead_max_us]))
    x0, x1 = bounds[:-1], bounds[1:]
    # every interval has the same length, so the windows speaking for (x0, x1] are a run in end order:
    # end + lead_min <= x0 and end + lead_max >= x1
    lo = np.searchsorted(e, x1 - lead_max_us, side="left")
    hi = np.searchsorted(e, x0 - lead_min_us, side="right")
    covered = hi > lo
    seg_score = np.full(len(x0), -np.inf)
    seg_score[covered] = _range_max(sc, lo[covered], hi[covered])
    cum_alarm = np.concatenate([[0], np.cumsum(al)])
    seg_alarm = (cum_alarm[hi] - cum_alarm[lo]) > 0
    return _Station(code, bounds, covered, seg_score, seg_alarm & covered, weight)


@dataclass
class SpaceTime:
    """The covered space-time: per station segments of the alarm function, and tau as a function of threshold."""

    stations: list[_Station]
    rule: TargetRule
    total_weight: float = field(init=False)
    span_us: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        scores, weights = [], []
        for st in self.stations:
            scores.append(st.score[st.covered])
            weights.append(np.diff(st.bounds)[st.covered] / US * st.weight)
        s, w = np.concatenate(scores), np.concatenate(weights)
        self.levels, inverse = np.unique(s, return_inverse=True)  # ascending distinct alarm-function values
        w_level = np.bincount(inverse, weights=w, minlength=len(self.levels))
        self.weight_ge = np.cumsum(w_level[::-1])[::-1]  # weight with alarm function >= levels[k]
        self.weight_gt = np.append(self.weight_ge[1:], 0.0)  # ... > levels[k]: the same sums, so points meet exactly
        self.total_weight = float(self.weight_ge[0])
        if not self.total_weight > 0:
            raise ValueError("the windows cover no space-time of positive weight")
        alarm_w = sum(float((np.diff(st.bounds)[st.alarm] / US * st.weight).sum()) for st in self.stations)
        self.alarm_fraction = alarm_w / self.total_weight
        self.span_us = (int(min(st.bounds[0] for st in self.stations)), int(max(st.bounds[-1] for st in self.stations)))

    @classmethod
    def build(cls, rows: AlarmRows, rule: TargetRule, station_weights: Mapping[str, float] | None = None) -> SpaceTime:
        lead_min, lead_max = round(rule.lead_min_hours * 3600 * US), round(rule.lead_max_hours * 3600 * US)
        alarm = rows.alarm if rows.alarm is not None else np.zeros(len(rows), bool)
        stations = []
        for code in sorted(set(rows.station.tolist())):
            if station_weights is None:
                weight = 1.0
            elif code in station_weights:
                weight = float(station_weights[code])
            else:
                raise ValueError(f"station_weights has no weight for station {code}")
            if weight < 0 or not math.isfinite(weight):
                raise ValueError(f"station weight of {code} must be finite and >= 0, not {weight}")
            m = rows.station == code
            end_us = rows.end[m].astype(np.int64)
            stations.append(_station_segments(code, end_us, rows.score[m], alarm[m], lead_min, lead_max, weight))
        return cls(stations, rule)

    def tau(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tau at ``> s``, tau at ``>= s``) for alarm-function values s that occur in the space-time."""
        k = np.searchsorted(self.levels, scores)
        return self.weight_gt[k] / self.total_weight, self.weight_ge[k] / self.total_weight


# ------------------------------------------------------------------------------------------ Molchan maths
def molchan_curve(space_time: SpaceTime, target_scores: np.ndarray) -> dict[str, list]:
    """The Molchan trajectory's corners: ``tau``, ``nu`` and the threshold reaching each (alarm when score >= it).

    Between two distinct target scores nu is constant, so these points (with straight lines between them)
    are the whole trajectory; it starts at (0, 1) (no alarm, threshold None) and ends at (1, 0).
    """
    n = len(target_scores)
    tau, nu, thr = [0.0], [1.0], [None]
    if n:
        distinct, counts = np.unique(target_scores, return_counts=True)
        distinct, counts = distinct[::-1], counts[::-1]
        t_gt, t_ge = space_time.tau(distinct)
        k = np.searchsorted(space_time.levels, distinct)
        caught = 0
        for s, c, a, b, kk in zip(distinct, counts, t_gt, t_ge, k):
            above = space_time.levels[kk + 1] if kk + 1 < len(space_time.levels) else None
            tau.append(float(a)); nu.append(1 - caught / n); thr.append(None if above is None else float(above))
            caught += int(c)
            tau.append(float(b)); nu.append(1 - caught / n); thr.append(float(s))
    tau.append(1.0); nu.append(0.0); thr.append(float(space_time.levels[0]))
    keep = [0] + [i for i in range(1, len(tau)) if (tau[i], nu[i]) != (tau[i - 1], nu[i - 1])]
    return {"tau": [tau[i] for i in keep], "nu": [nu[i] for i in keep], "threshold": [thr[i] for i in keep]}


def area_under(curve: Mapping[str, Sequence[float]]) -> float:
    """``integral (1 - nu) dtau`` of a Molchan trajectory given by its corners (trapezoids)."""
    tau, nu = np.asarray(curve["tau"]), np.asarray(curve["nu"])
    return float(np.sum(np.diff(tau) * (1 - (nu[1:] + nu[:-1]) / 2)))


def _irwin_hall_cdf(x: float, n: int) -> float:
    """P(sum of n uniforms <= x), exactly (rational arithmetic)."""
    if x <= 0:
        return 0.0
    if x >= n:
        return 1.0
    fx = Fraction(x)
    total = sum((-1) ** k * math.comb(n, k) * (fx - k) ** n for k in range(int(math.floor(x)) + 1))
    return float(total / math.factorial(n))


def random_ass(n_targets: int, ass: float | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """The area skill score of random alarms for ``n_targets`` independent targets (Zechar & Jordan 2008).

    ASS = 1 - mean of n uniforms: mean 0.5, sd ``1/sqrt(12 n)``. Exact (Irwin-Hall) up to 40 targets,
    Gaussian above. Returns the central ``1 - alpha`` interval and, given ``ass``, the one-sided p-value
    ``P(ASS_random >= ass)``. With ties in the alarm function the true spread is smaller (conservative).
    """
    if n_targets < 1:
        return {"n_targets": n_targets, "mean": 0.5, "sd": None, "interval": None, "p_value": None}
    sd = 1 / math.sqrt(12 * n_targets)
    z = _normal_quantile(1 - alpha / 2)
    exact = n_targets <= 40
    if exact:
        def upper_tail(a: float) -> float:  # P(ASS >= a) = P(sum U <= n (1 - a))
            return _irwin_hall_cdf(n_targets * (1 - a), n_targets)

        lo_a, hi_a = 0.5, 1.0
        for _ in range(60):  # bisection for the upper quantile
            mid = (lo_a + hi_a) / 2
            lo_a, hi_a = (mid, hi_a) if upper_tail(mid) > alpha / 2 else (lo_a, mid)
        interval = [1 - hi_a, hi_a]
        p = None if ass is None else upper_tail(ass)
    else:
        interval = [0.5 - z * sd, 0.5 + z * sd]
        p = None if ass is None else 0.5 * math.erfc((ass - 0.5) / sd / math.sqrt(2))
    return {"n_targets": n_targets, "mean": 0.5, "sd": sd, "interval": interval, "p_value": p,
            "method": "Irwin-Hall (exact)" if exact else "Gaussian approximation"}


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def random_band(n_targets: int, alpha: float = 0.05, points: int = 101) -> dict[str, list[float]] | None:
    """One-sided ``alpha`` critical miss rate of random alarms at each tau (binomial hits; Zechar & Jordan 2008).

    A Molchan point below the band is significant at ``alpha`` against random alarms, targets taken as
    independent.
    """
    if n_targets < 1:
        return None
    from scipy.stats import binom

    tau = np.linspace(0, 1, points)
    hits = np.arange(n_targets + 1)
    nu = []
    for t in tau:
        sf = binom.sf(hits - 1, n_targets, t)  # P(X >= h)
        ok = np.flatnonzero(sf <= alpha)
        nu.append(float(1 - ok[0] / n_targets) if len(ok) else 0.0)
    return {"tau": tau.tolist(), "nu": nu, "alpha": alpha}


# ------------------------------------------------------------------------------------------ targets
@dataclass
class _Candidates:
    """(event, station) pairs inside magnitude and radius; times may move in the controls."""

    event: np.ndarray  # index into the event arrays
    station: np.ndarray  # index into SpaceTime.stations
    distance_km: np.ndarray
    times_us: np.ndarray  # per event
    events: list[Event]


def _candidates(events: Sequence[Event], space_time: SpaceTime,
                coords: Mapping[str, tuple[float, float]]) -> _Candidates:
    rule = space_time.rule
    t0, t1 = space_time.span_us
    chosen = [e for e in events if e.magnitude >= rule.min_magnitude]
    times = _to_us([e.time for e in chosen]) if chosen else np.zeros(0, np.int64)
    inside = (times > t0) & (times <= t1)
    chosen = [e for e, k in zip(chosen, inside) if k]
    times = times[inside]
    ev, st, dist = [], [], []
    for i, e in enumerate(chosen):
        radius = rule.radius_at(e.magnitude)
        for k, s in enumerate(space_time.stations):
            d = distance_km(coords[s.code][0], coords[s.code][1], e.latitude, e.longitude)
            if d <= radius:
                ev.append(i); st.append(k); dist.append(d)
    return _Candidates(np.array(ev, dtype=np.int64), np.array(st, dtype=np.int64), np.array(dist, dtype=float),
                       times, chosen)


def _targets(space_time: SpaceTime, cand: _Candidates, times_us: np.ndarray) -> dict[str, np.ndarray]:
    """The candidate pairs that fall in covered space-time at these event times, with their scores."""
    t = times_us[cand.event]
    covered = np.zeros(len(t), bool)
    score = np.zeros(len(t))
    alarm = np.zeros(len(t), bool)
    for k, st in enumerate(space_time.stations):
        m = np.flatnonzero(cand.station == k)
        if len(m) == 0:
            continue
        j, ok = st.lookup(t[m])
        covered[m], score[m], alarm[m] = ok, st.score[j], st.alarm[j]
    keep = np.flatnonzero(covered)
    return {"pair": keep, "event": cand.event[keep], "station": cand.station[keep], "score": score[keep],
            "alarm": alarm[keep], "time_us": t[keep]}


def _target_tau(space_time: SpaceTime, scores: np.ndarray) -> np.ndarray:
    """tau_j: the alarm fraction at which each target is predicted, the mid-point over ties."""
    t_gt, t_ge = space_time.tau(scores)
    return (t_gt + t_ge) / 2


def _skill(space_time: SpaceTime, tg: dict[str, np.ndarray], groups: np.ndarray, has_alarm: bool, n_boot: int,
           seed: int, alpha: float) -> dict[str, Any]:
    n = len(tg["score"])
    out: dict[str, Any] = {"n_targets": int(n), "n_target_events": int(len(np.unique(tg["event"])))}
    curve = molchan_curve(space_time, tg["score"])
    out["molchan"] = curve
    tau_op = space_time.alarm_fraction if has_alarm else None
    if n == 0:
        out.update(ass=None, ass_interval=None, random=random_ass(0),
                   operating_point=None if tau_op is None else {"tau": tau_op, "nu": None, "hits": 0,
                                                                 "probability_gain": None, "gain_interval": None,
                                                                 "p_value_random": None})
        return out
    tau_mid = _target_tau(space_time, tg["score"])
    ass = float(1 - tau_mid.mean())
    hit = tg["alarm"].astype(float)

    def stat(idx: np.ndarray) -> tuple[float, float]:
        return 1 - tau_mid[idx].mean(), (hit[idx].mean() / tau_op if tau_op else 0.0)

    reps = grouped_bootstrap(groups, stat, n_boot, seed) if n_boot > 0 else None
    interval = None if reps is None else percentile_interval(reps, alpha)
    out["ass"] = ass
    out["ass_interval"] = None if interval is None else [float(interval[0, 0]), float(interval[1, 0])]
    out["random"] = random_ass(n, ass, alpha)
    if tau_op is None:
        out["operating_point"] = None
    else:
        from scipy.stats import binom

        hits = int(tg["alarm"].sum())
        gain = (hits / n) / tau_op if tau_op > 0 else None
        gain_iv = None
        if interval is not None and tau_op > 0:
            gain_iv = [float(interval[0, 1]), float(interval[1, 1])]
        out["operating_point"] = {
            "tau": tau_op, "nu": 1 - hits / n, "hits": hits, "probability_gain": gain, "gain_interval": gain_iv,
            # P(at least this many hits) for random alarms covering the same fraction
            "p_value_random": float(binom.sf(hits - 1, n, tau_op)),
        }
    return out


def _groups(tg: dict[str, np.ndarray], cluster_days: float | None, t0_us: int) -> np.ndarray:
    """Bootstrap group of each target: its event, or the block of ``cluster_days`` its (possibly shifted) time is in."""
    if cluster_days is None:
        return tg["event"]
    block = round(cluster_days * 86400 * US)
    return (tg["time_us"] - t0_us) // block


def _shift(times_us: np.ndarray, offset_us: int, span: tuple[int, int]) -> np.ndarray:
    t0, t1 = span
    return t0 + (times_us - t0 + offset_us) % (t1 - t0)


# ------------------------------------------------------------------------------------------ the entry point
def score_alarms(rows: AlarmRows, events: Sequence[Event],
                 stations: Mapping[str, Any] | None = None, rule: TargetRule | None = None, *,
                 station_weights: Mapping[str, float] | None = None, n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05, cluster_days: float | None = None,
                 shift_days: Sequence[float] | None = None, random_alarm_repeats: int = 200) -> dict[str, Any]:
    """Skill of ``rows``' alarms against ``events``: Molchan diagram, ASS, probability gain, controls.

    ``stations``: code -> (latitude, longitude) or an object with ``latitude``/``longitude`` (a network
    alarm is a row whose station is a pseudo-station placed where its targets are counted from); None
    uses the packaged BMKG table. ``rule`` defaults to :class:`TargetRule` (). ``cluster_days`` groups the
    bootstrap's targets by time block instead of by event. ``shift_days``: offsets of the shifted-catalogue
    control (circular within the span; default half the span; empty for none). Everything returned is
    JSON-able; see the module docstring for the definitions.
    """
    rule = rule or TargetRule()
    if stations is None:
        from .stations import load_stations

        stations = load_stations()
    coords: dict[str, tuple[float, float]] = {}
    for code in sorted(set(rows.station.tolist())):
        if code not in stations:
            raise ValueError(f"no coordinates for station {code}")
        s = stations[code]
        coords[code] = (float(s.latitude), float(s.longitude)) if hasattr(s, "latitude") else (float(s[0]), float(s[1]))
    space_time = SpaceTime.build(rows, rule, station_weights)
    has_alarm = rows.alarm is not None
    cand = _candidates(events, space_time, coords)
    t0, t1 = space_time.span_us
    span_days = (t1 - t0) / US / 86400

    def run(times_us: np.ndarray, boot: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        tg = _targets(space_time, cand, times_us)
        return _skill(space_time, tg, _groups(tg, cluster_days, t0), has_alarm, boot, seed, alpha), tg

    main, tg = run(cand.times_us, n_boot)
    result: dict[str, Any] = {
        "definitions": _definitions(rule, station_weights, cluster_days, alpha),
        "rule": rule.describe(),
        "space_time": {
            "stations": [st.code for st in space_time.stations],
            "rows": int(len(rows)),
            "span": [_iso(t0), _iso(t1)],
            "span_days": span_days,
            "station_days": sum(float(np.diff(st.bounds)[st.covered].sum()) / US / 86400 for st in space_time.stations),
            "weighting": "uniform (every station-second counts the same)" if station_weights is None
            else {k: float(v) for k, v in station_weights.items()},
            "alarm_fraction": space_time.alarm_fraction if has_alarm else None,
        },
        "catalog": {"events": len(events), "in_span_at_min_magnitude": len(cand.events),
                    "candidate_pairs": int(len(cand.event))},
        "bootstrap": {"unit": "catalogue event" if cluster_days is None else f"time block of {cluster_days:g} days",
                      "n_boot": n_boot, "seed": seed, "alpha": alpha},
        **main,
        "random_band": random_band(main["n_targets"], alpha),
    }
    result["by_station"] = _by_station(space_time, tg)
    result["targets"] = [
        {"event_id": cand.events[e].event_id, "station": space_time.stations[s].code, "time": _iso(t),
         "magnitude": cand.events[e].magnitude, "distance_km": round(float(cand.distance_km[p]), 1),
         "score": float(sc), "alarm": bool(a) if has_alarm else None}
        for p, e, s, t, sc, a in zip(tg["pair"], tg["event"], tg["station"], tg["time_us"], tg["score"], tg["alarm"])
    ]
    # ---- controls
    controls: dict[str, Any] = {"shifted_catalog": []}
    for days in ([span_days / 2] if shift_days is None else list(shift_days)):
        shifted, _ = run(_shift(cand.times_us, round(days * 86400 * US), space_time.span_us), n_boot)
        controls["shifted_catalog"].append({"shift_days": float(days), "circular_within_span": True, **shifted})
    controls["random_alarm"] = _random_alarm(space_time, cand, has_alarm, main, random_alarm_repeats, seed, alpha, rule)
    result["controls"] = controls
    return result


def _random_alarm(space_time: SpaceTime, cand: _Candidates, has_alarm: bool, main: dict[str, Any], repeats: int,
                  seed: int, alpha: float, rule: TargetRule) -> dict[str, Any] | None:
    t0, t1 = space_time.span_us
    guard = round((rule.lead_max_hours - rule.lead_min_hours) * 3600 * US)
    if repeats <= 0 or (t1 - t0) <= 2 * guard:
        return None
    rng = np.random.default_rng([seed, 1])
    offsets = rng.integers(guard, (t1 - t0) - guard, size=repeats)
    tau_op = space_time.alarm_fraction if has_alarm else 0.0
    ass, gain, n = [], [], []
    for o in offsets:
        tg = _targets(space_time, cand, _shift(cand.times_us, int(o), space_time.span_us))
        k = len(tg["score"])
        ass.append(float(1 - _target_tau(space_time, tg["score"]).mean()) if k else np.nan)
        gain.append(float(tg["alarm"].mean() / tau_op) if k and tau_op > 0 else np.nan)
        n.append(k)
    ass_a, gain_a = np.asarray(ass), np.asarray(gain)
    out: dict[str, Any] = {
        "repeats": repeats, "offset_days_min": guard / US / 86400, "targets_median": float(np.median(n)),
        "ass_values": [None if np.isnan(a) else float(a) for a in ass_a],
    }
    ok = ~np.isnan(ass_a)
    out["ass_mean"] = float(ass_a[ok].mean()) if ok.any() else None
    out["ass_interval"] = percentile_interval(ass_a[ok], alpha).tolist() if ok.any() else None
    out["ass_p_value"] = (float((1 + np.sum(ass_a[ok] >= main["ass"])) / (1 + ok.sum()))
                          if ok.any() and main["ass"] is not None else None)
    okg = ~np.isnan(gain_a)
    out["gain_interval"] = percentile_interval(gain_a[okg], alpha).tolist() if okg.any() else None
    op = main.get("operating_point")
    out["gain_p_value"] = (float((1 + np.sum(gain_a[okg] >= op["probability_gain"])) / (1 + okg.sum()))
                           if okg.any() and op and op["probability_gain"] is not None else None)
    return out


def _by_station(space_time: SpaceTime, tg: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    rows = []
    for k, st in enumerate(space_time.stations):
        seconds = np.diff(st.bounds)[st.covered] / US
        m = tg["station"] == k
        rows.append({"station": st.code, "days": float(seconds.sum() / 86400), "weight": st.weight,
                     "alarm_fraction": float(np.diff(st.bounds)[st.alarm].sum() / US / seconds.sum()),
                     "targets": int(m.sum()), "hits": int(tg["alarm"][m].sum())})
    return rows


def _definitions(rule: TargetRule, station_weights: Any, cluster_days: float | None, alpha: float) -> dict[str, str]:
    return {
        "targets": rule.describe()["text"] + "; an (event, station) pair is one target; only events in covered "
                   "space-time count.",
        "alarm_function": f"a window's score speaks for ({rule.lead_min_hours:g} h, {rule.lead_max_hours:g} h] after "
                          "its end at its station; where several do, the highest score.",
        "space_time": "union over stations of the times the windows speak for, in station-seconds, "
                      + ("uniform weight" if station_weights is None else "weighted per station") + ".",
        "molchan": "nu (fraction of targets missed) against tau (weighted fraction of space-time in alarm) over "
                   "every threshold on the alarm function; random alarms lie on nu = 1 - tau.",
        "ass": "area skill score (Zechar & Jordan 2008) = area above the Molchan trajectory over tau in [0, 1] "
               "(straight lines between points) = 1 - mean tau_j; 0.5 random, 1 perfect.",
        "probability_gain": "G = (1 - nu) / tau at the operating point (the rows' alarm column); 1 is chance.",
        "bootstrap": f"{100 * (1 - alpha):g}% percentile intervals resampling targets by "
                     + ("catalogue event" if cluster_days is None else f"{cluster_days:g}-day time block")
                     + "; alarms (tau) held fixed.",
        "controls": "catalogue shifted circularly in time within the span; random alarms = the alarm series moved "
                    "by random circular offsets of at least the lead window's length.",
    }


# ------------------------------------------------------------------------------------------ report
def write_skill_report(result: Mapping[str, Any], out_dir: str | Path,
                       title: str = "Skill against a catalogue") -> list[Path]:
    """Write ``report.md``, ``skill.json``, ``molchan.png`` and (with a random-alarm control) ``random_alarm.png``.

    Each file is written to a temporary sibling and renamed into place. Needs matplotlib (the ``train``
    extra).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("the skill report's figures need matplotlib: pip install 'precursor-service[train]'") from exc
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Any, name: str) -> None:
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        atomic_write_bytes(out / name, buf.getvalue())
        written.append(out / name)

    # Molchan diagram
    fig = Figure(figsize=(6.0, 5.6))
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0], color="0.5", ls="--", lw=1, label="random alarms (nu = 1 - tau)")
    band = result.get("random_band")
    if band:
        ax.plot(band["tau"], band["nu"], color="0.6", ls=":", lw=1,
                label=f"random, one-sided {100 * band['alpha']:g}% bound")
    for ctrl in result.get("controls", {}).get("shifted_catalog", []):
        ax.plot(ctrl["molchan"]["tau"], ctrl["molchan"]["nu"], lw=1, alpha=0.8,
                label=f"catalogue shifted {ctrl['shift_days']:+.1f} d (ASS {_f(ctrl['ass'])})")
    ax.plot(result["molchan"]["tau"], result["molchan"]["nu"], color="C3", lw=2,
            label=f"alarms (ASS {_f(result['ass'])})")
    op = result.get("operating_point")
    if op and op.get("nu") is not None:
        ax.plot([op["tau"]], [op["nu"]], "o", color="C3", label=f"operating point (G {_f(op['probability_gain'], 2)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("tau: fraction of space-time in alarm")
    ax.set_ylabel("nu: miss rate")
    ax.set_title(f"Molchan diagram, {result['n_targets']} targets", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    save(fig, "molchan.png")
    ra = result.get("controls", {}).get("random_alarm")
    if ra and any(v is not None for v in ra["ass_values"]):
        fig = Figure(figsize=(6.0, 3.6))
        ax = fig.add_subplot()
        ax.hist([v for v in ra["ass_values"] if v is not None], bins=30, color="0.7", label="random alarms")
        if result["ass"] is not None:
            ax.axvline(result["ass"], color="C3", lw=2, label=f"alarms {_f(result['ass'])}")
        ax.axvline(0.5, color="0.3", ls="--", lw=1, label="chance 0.5")
        ax.set_xlabel("area skill score")
        ax.set_ylabel("repeats")
        ax.legend(fontsize=7)
        fig.tight_layout()
        save(fig, "random_alarm.png")
    atomic_write_text(out / "skill.json", json.dumps(result, indent=1) + "\n")
    written.append(out / "skill.json")
    atomic_write_text(out / "report.md", _markdown(result, title, [p.name for p in written if p.suffix == ".png"]))
    written.append(out / "report.md")
    return written


def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _p(p: Any) -> str:
    return "-" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def _iv(iv: Any, digits: int = 3) -> str:
    return "-" if not iv else f"[{iv[0]:.{digits}f}, {iv[1]:.{digits}f}]"


def _markdown(r: Mapping[str, Any], title: str, figures: list[str]) -> str:
    st, op, rnd = r["space_time"], r.get("operating_point"), r["random"]
    pct = f"{100 * (1 - r['bootstrap']['alpha']):g}%"
    lines = [
        f"# {title}", "",
        f"{len(st['stations'])} station(s), {st['rows']} windows, {st['span'][0]} to {st['span'][1]} "
        f"({st['station_days']:.1f} station-days of covered space-time). Catalogue: {r['catalog']['events']} events, "
        f"{r['catalog']['in_span_at_min_magnitude']} in the span at M >= {r['rule']['min_magnitude']:g}; "
        f"**{r['n_targets']} targets** ({r['n_target_events']} events).", "",
        f"Targets: {r['rule']['text']}.", "",
        "| measure | value | " + pct + " interval (bootstrap) | random alarms |",
        "|---|---|---|---|",
        f"| area skill score | {_f(r['ass'])} | {_iv(r['ass_interval'])} | 0.5, {pct} {_iv(rnd['interval'])}, "
        f"p = {_p(rnd['p_value'])} ({rnd.get('method', '-')}) |",
    ]
    if op:
        lines.append(f"| probability gain at the operating point | {_f(op['probability_gain'], 2)} | "
                     f"{_iv(op['gain_interval'], 2)} | 1; binomial p = {_p(op['p_value_random'])} |")
        lines.append(f"| operating point tau / nu | {_f(op['tau'])} / {_f(op['nu'])} ({op['hits']} hits) | | |")
    lines += ["", "## Controls", "", "| control | targets | ASS | ASS interval | G |", "|---|---|---|---|---|"]
    for c in r["controls"]["shifted_catalog"]:
        g = c["operating_point"]["probability_gain"] if c.get("operating_point") else None
        lines.append(f"| catalogue shifted {c['shift_days']:+.1f} days (circular) | {c['n_targets']} | "
                     f"{_f(c['ass'])} | {_iv(c['ass_interval'])} | {_f(g, 2)} |")
    ra = r["controls"].get("random_alarm")
    if ra:
        lines.append(f"| random alarms ({ra['repeats']} circular offsets >= {ra['offset_days_min']:.1f} d) | "
                     f"{ra['targets_median']:.0f} (median) | {_f(ra['ass_mean'])} (mean) | {_iv(ra['ass_interval'])} | "
                     f"{_iv(ra['gain_interval'], 2)} |")
        lines += ["", "Random-alarm p-values, (1 + repeats scoring at least the alarms) / (1 + repeats), the smallest "
                  f"possible being {1 / (1 + ra['repeats']):.3f}: ASS p = {_p(ra['ass_p_value'])}"
                  + (f", gain p = {_p(ra['gain_p_value'])}" if ra.get("gain_p_value") is not None else "") + "."]
    lines += ["", "## By station", "", "| station | days | weight | alarm fraction | targets | hits |",
              "|---|---|---|---|---|---|"]
    for s in r["by_station"]:
        lines.append(f"| {s['station']} | {s['days']:.1f} | {s['weight']:g} | {_f(s['alarm_fraction'])} | "
                     f"{s['targets']} | {s['hits']} |")
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures]
    lines += ["", "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in r["definitions"].items()]
    lines += ["", "The random-alarm interval and p-values in the first table (Irwin-Hall, binomial) treat targets as "
              "independent; an event that is a target at several stations makes them optimistic, which the bootstrap "
              "over events and the controls do not suffer from.", ""]
    return "\n".join(lines)


__all__ = ["AlarmRows", "SpaceTime", "TargetRule", "area_under", "detection_range_km", "dobrovolsky_radius_km",
           "molchan_curve", "random_ass", "random_band", "score_alarms", "write_skill_report"]
