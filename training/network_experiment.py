"""An idealised check of the network stage on a synthetic dense array (not the full simulator).

``python -m training.network_experiment [--events N] [--seed S]`` prints JSON: for events seen at 2 and
at 3+ stations, the share that gets a fix, the median localisation error (km) and the share of 95%
ellipses holding the epicentre; the share of windows without an emission (storms, pulsations) that get
a fix; and the magnitude model's balanced accuracy given a fix, beside its ceiling (true distances).

The world, kept deliberately simple so that the network maths is what is measured:

* 12 stations, each 30-60 km from another and none closer than 30 km;
* events uniform within 30 km of the array's edge, magnitudes 4.6-7.5 (Gutenberg-Richter, b = 1);
  the simulator's detection law: reach R = (M - 4.5) x 40 km, received amplitude
  min(1.5, 0.1 (R / max(r, 5))^3) nT, with 0.15 dex of measurement scatter; every station within reach
  detects;
* bearings as the service serves them: a von Mises around the true bearing mixed with a uniform
  outlier share (``--outlier-share``, 5%); the von Mises spread falls from 16 degrees at the edge of reach (0.1 nT: the direction
  finder's 0.85 eight-sector accuracy there) to 8 degrees at 1.5 nT; the stated uncertainty is the
  mixture's circular standard deviation, as ``bearing_uncertainty_deg`` is served (``--stated core``:
  the von Mises part's, leaving the outliers unstated);
* windows without an emission: a global pulsation or storm seen at k = 2-12 stations at once, each
  station's bearing the common polarisation direction or its reverse (its own induction sign) with
  ``--storm-scatter`` degrees of scatter, stated uncertainty 10-40 degrees; and the same with bearings
  uniform at random.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from model_store.geodesy import (
    LocalPlane,
    distance_km,
    initial_bearing_deg,
)
from model_store.labels import magnitude_class
from model_store.network import (
    EVENT_MAGNITUDE_CLASSES,
    NetworkConfig,
    StationObservation,
    kappa_from_uncertainty_deg,
    mean_resultant_length,
    network_window,
    station_distances,
)

from .network_fit import cross_validated_balanced_accuracy, window_features

CENTRE = (-7.5, 110.0)


def layout(rng: np.random.Generator, n: int, lo: float = 30.0, hi: float = 60.0) -> list[tuple[float, float]]:
    pts = [(0.0, 0.0)]
    while len(pts) < n:
        base = pts[rng.integers(len(pts))]
        a, r = rng.uniform(0, 2 * math.pi), rng.uniform(lo, hi)
        p = (base[0] + r * math.sin(a), base[1] + r * math.cos(a))
        if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= lo for q in pts):
            pts.append(p)
    xy = np.array(pts) - np.mean(pts, axis=0)
    lat, lon = LocalPlane(*CENTRE).inverse(xy[:, 0], xy[:, 1])
    return list(zip(lat.tolist(), lon.tolist()))


def served_bearing(rng: np.random.Generator, true_deg: float, spread_deg: float, outlier_share: float = 0.05,
                   stated: str = "mixture") -> tuple[float, float]:
    """(bearing, stated circular sd) of a von Mises + uniform mixture: the sd stated is the mixture's (as
    ``bearing_uncertainty_deg`` is served) or, with ``stated="core"``, the von Mises part's alone."""
    kappa = kappa_from_uncertainty_deg(spread_deg)
    bearing = rng.uniform(0, 360) if rng.uniform() < outlier_share else true_deg + math.degrees(rng.vonmises(0, kappa))
    resultant = (1 - (outlier_share if stated == "mixture" else 0.0)) * mean_resultant_length(kappa)
    return bearing % 360, math.degrees(math.sqrt(-2 * math.log(resultant)))


def gutenberg_richter(rng: np.random.Generator, lo: float, hi: float, b: float = 1.0) -> float:
    u = rng.uniform()
    return lo - math.log10(1 - u * (1 - 10 ** (-b * (hi - lo)))) / b


def events(rng: np.random.Generator, stations: list[tuple[float, float]], n_events: int,
           outlier_share: float = 0.05, stated: str = "mixture") -> list[dict[str, Any]]:
    plane = LocalPlane(*CENTRE)
    xy = np.array([plane.forward(*s) for s in stations])
    radius = float(np.hypot(*xy.T).max()) + 30.0
    out = []
    while len(out) < n_events:
        e, n = rng.uniform(-radius, radius, 2)
        if math.hypot(e, n) > radius:
            continue
        src = plane.inverse(e, n)
        m = gutenberg_richter(rng, 4.6, 7.5)
        reach = (m - 4.5) * 40.0
        obs, amps, dists = [], [], []
        for i, (lat, lon) in enumerate(stations):
            r = distance_km(lat, lon, *src)
            if r > reach:
                continue
            amp = min(1.5, 0.1 * (reach / max(r, 5.0)) ** 3)
            spread = 16.0 - 8.0 * (math.log10(amp) + 1) / math.log10(15)  # 16 deg at 0.1 nT, 8 at 1.5 nT
            bearing, sd = served_bearing(rng, initial_bearing_deg(lat, lon, *src), spread, outlier_share, stated)
            measured = amp * 10 ** rng.normal(0, 0.15)
            obs.append(StationObservation(f"S{i:02d}", lat, lon, bearing_deg=bearing, uncertainty_deg=sd,
                                          detected=True, amplitude_nt=measured))
            amps.append(measured)
            dists.append(r)
        if len(obs) >= 2:
            out.append({"source": src, "magnitude": m, "observations": obs, "amplitudes": amps, "true_distances": dists})
    return out


def quiet_windows(rng: np.random.Generator, stations: list[tuple[float, float]], n_windows: int, kind: str,
                  scatter_deg: float) -> list[list[StationObservation]]:
    out = []
    for _ in range(n_windows):
        k = int(rng.integers(2, len(stations) + 1))
        chosen = rng.choice(len(stations), k, replace=False)
        psi = rng.uniform(0, 360)
        obs = []
        for i in chosen:
            lat, lon = stations[i]
            b = rng.uniform(0, 360) if kind == "uniform" else psi + 180 * rng.integers(0, 2) + rng.normal(0, scatter_deg)
            obs.append(StationObservation(f"S{i:02d}", lat, lon, bearing_deg=b % 360, uncertainty_deg=rng.uniform(10, 40),
                                          detected=True, amplitude_nt=0.3 * 10 ** rng.normal(0, 0.15)))
        out.append(obs)
    return out


def run(n_events: int = 1500, n_quiet: int = 1000, seed: int = 0, storm_scatter: float = 15.0,
        config: NetworkConfig | None = None, outlier_share: float = 0.05, stated: str = "mixture") -> dict[str, Any]:
    config = config or NetworkConfig()
    rng = np.random.default_rng(seed)
    stations = layout(rng, 12)
    evs = events(rng, stations, n_events, outlier_share, stated)
    by_n: dict[str, dict[str, list]] = {"2": {"fix": [], "err": [], "inside": []}, "3+": {"fix": [], "err": [], "inside": []}}
    fixed = []
    for ev in evs:
        result = network_window(ev["observations"], config)
        group = by_n["2" if len(ev["observations"]) == 2 else "3+"]
        group["fix"].append(result.alarm)
        if result.alarm:
            group["err"].append(distance_km(result.fix.latitude, result.fix.longitude, *ev["source"]))
            group["inside"].append(result.fix.contains(*ev["source"]))
            fixed.append((ev, result.fix))
    out: dict[str, Any] = {"seed": seed, "config": config.to_dict(), "outlier_share": outlier_share, "stated": stated,
                           "events": len(evs), "by_stations": {}}
    for name, g in by_n.items():
        out["by_stations"][name] = {
            "windows": len(g["fix"]), "fix_share": round(float(np.mean(g["fix"])), 3) if g["fix"] else None,
            "median_error_km": round(float(np.median(g["err"])), 1) if g["err"] else None,
            "p90_error_km": round(float(np.percentile(g["err"], 90)), 1) if g["err"] else None,
            "ellipse_coverage": round(float(np.mean(g["inside"])), 3) if g["inside"] else None,
            "fixes": len(g["err"]),
        }
    quiet = {}
    for kind in ("pulsation", "uniform"):
        windows = quiet_windows(rng, stations, n_quiet, kind, storm_scatter)
        alarms = [network_window(w, config).alarm for w in windows]
        quiet[kind] = {"windows": len(windows), "alarm_share": round(float(np.mean(alarms)), 4),
                       "alarms_at_2_to_4_stations": int(sum(a for a, w in zip(alarms, windows) if len(w) <= 4)),
                       "windows_at_2_to_4_stations": int(sum(len(w) <= 4 for w in windows))}
    out["windows_without_emission"] = quiet

    # magnitude given a fix: features from the fix's distances, and (the ceiling) from the true ones
    if len(fixed) >= 30:
        labels = [magnitude_class(ev["magnitude"]) for ev, _ in fixed]
        fix_d = [[d.distance_km for d in station_distances(fix, ev["observations"])] for ev, fix in fixed]
        amps = [ev["amplitudes"] for ev, _ in fixed]
        x_fix = window_features(amps, fix_d)
        x_true = window_features(amps, [ev["true_distances"] for ev, _ in fixed])
        out["magnitude_given_a_fix"] = {
            "windows": len(labels),
            "classes": {c: labels.count(c) for c in EVENT_MAGNITUDE_CLASSES},
            "balanced_accuracy": round(cross_validated_balanced_accuracy(x_fix, labels, seed=seed), 3),
            "ceiling_balanced_accuracy": round(cross_validated_balanced_accuracy(x_true, labels, seed=seed), 3),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--quiet", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storm-scatter", type=float, default=15.0)
    ap.add_argument("--outlier-share", type=float, default=0.05, help="share of events' bearings uniform at random")
    ap.add_argument("--stated", choices=("mixture", "core"), default="mixture",
                    help="stated uncertainty: the mixture's circular sd (as served) or the von Mises part's")
    ap.add_argument("--config", type=json.loads, default={}, help="NetworkConfig fields as JSON")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.events, args.quiet, args.seed, args.storm_scatter, NetworkConfig.from_dict(args.config),
                         args.outlier_share, args.stated), indent=1))


if __name__ == "__main__":
    main()
