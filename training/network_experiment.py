"""A check of the network stage on the simulated dense array's ground truth (not on spectrograms).

``python -m training.network_experiment [--config configs/sim_dense_array.yaml] [--worlds 4]`` prints
JSON: for events seen at 2 and at 3+ stations, the share that gets a network alarm (a fix), the median
and 90th-percentile localisation error (km) and the share of 95% ellipses holding the epicentre; the share
of windows without an emission (storms, pulsations) that get one; and the magnitude model's balanced
accuracy given a fix, beside its ceiling (the same classifier given the true distances).

What is simulated and what is not. The events, their sources and who receives them are the simulator's
(:class:`training.simulate.World` of the config, ``--worlds`` seeds from the config's): epicentres,
magnitudes, one source per event with its strength scatter, the r^-3 law, the 0.1 nT floor and the 1.5 nT
cap. What the service would measure is drawn here instead of computed from spectrograms, so that the
network maths is what is measured:

* every station that receives an emission detects it, and no other (the detector is perfect);
* its bearing is served as the bearing head serves it: a von Mises around the true bearing mixed with a
  uniform outlier share (``--outlier-share``, 5%), the von Mises spread falling from 16 degrees at 0.1 nT
  (the direction finder's 0.85 eight-sector accuracy there, science.md) to 8 degrees at 1.5 nT; the
  stated uncertainty is the mixture's circular standard deviation, as ``bearing_uncertainty_deg`` is
  served (``--stated core``: the von Mises part's, leaving the outliers unstated);
* its measured band amplitude is the received amplitude with 0.15 dex of scatter;
* windows without an emission: a global pulsation or storm seen at k = 2-12 stations at once, each
  station's bearing the common polarisation direction or its reverse (its own induction sign) with
  ``--storm-scatter`` degrees of scatter, stated uncertainty 10-40 degrees, equal amplitudes (0.15 dex);
  and the same with bearings uniform at random.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from model_store.geodesy import distance_km
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

from .config import load_yaml
from .network_fit import cross_validated_balanced_accuracy, window_features
from .simulate import SimConfig, World

DENSE_ARRAY = Path(__file__).resolve().parents[1] / "configs" / "sim_dense_array.yaml"


def served_bearing(rng: np.random.Generator, true_deg: float, spread_deg: float, outlier_share: float = 0.05,
                   stated: str = "mixture") -> tuple[float, float]:
    """(bearing, stated circular sd) of a von Mises + uniform mixture: the sd stated is the mixture's (as
    ``bearing_uncertainty_deg`` is served) or, with ``stated="core"``, the von Mises part's alone."""
    kappa = kappa_from_uncertainty_deg(spread_deg)
    bearing = rng.uniform(0, 360) if rng.uniform() < outlier_share else true_deg + math.degrees(rng.vonmises(0, kappa))
    resultant = (1 - (outlier_share if stated == "mixture" else 0.0)) * mean_resultant_length(kappa)
    return bearing % 360, math.degrees(math.sqrt(-2 * math.log(resultant)))


def bearing_spread_deg(amplitude_nt: float) -> float:
    """The direction finder's von Mises spread: 16 degrees at 0.1 nT falling to 8 at 1.5 nT (log-linear)."""
    a = min(max(amplitude_nt, 0.1), 1.5)
    return 16.0 - 8.0 * math.log10(a / 0.1) / math.log10(15.0)


def events(rng: np.random.Generator, world: World, outlier_share: float = 0.05, stated: str = "mixture"
           ) -> list[dict[str, Any]]:
    """The world's events seen at 2+ stations, as the network stage would receive them."""
    by_event: dict[str, list] = {}
    for inj in world.injections:
        by_event.setdefault(inj.event_id, []).append(inj)
    out = []
    for e in world.events:
        injections = by_event.get(e.event_id, [])
        if len(injections) < 2:
            continue
        obs, amps, dists = [], [], []
        for inj in injections:
            st = world.stations[inj.station]
            bearing, sd = served_bearing(rng, inj.bearing_deg, bearing_spread_deg(inj.amplitude_nt), outlier_share,
                                         stated)
            measured = inj.amplitude_nt * 10 ** rng.normal(0, 0.15)
            obs.append(StationObservation(inj.station, st.latitude, st.longitude, bearing_deg=bearing,
                                          uncertainty_deg=sd, detected=True, amplitude_nt=measured))
            amps.append(measured)
            dists.append(inj.distance_km)
        out.append({"source": (e.latitude, e.longitude), "magnitude": e.magnitude, "observations": obs,
                    "amplitudes": amps, "true_distances": dists})
    return out


def quiet_windows(rng: np.random.Generator, world: World, n_windows: int, kind: str, scatter_deg: float
                  ) -> list[list[StationObservation]]:
    stations = list(world.stations.values())
    out = []
    for _ in range(n_windows):
        chosen = rng.choice(len(stations), int(rng.integers(2, len(stations) + 1)), replace=False)
        psi = rng.uniform(0, 360)
        obs = []
        for i in chosen:
            st = stations[i]
            b = rng.uniform(0, 360) if kind == "uniform" else psi + 180 * rng.integers(0, 2) + rng.normal(0, scatter_deg)
            obs.append(StationObservation(st.code, st.latitude, st.longitude, bearing_deg=b % 360,
                                          uncertainty_deg=rng.uniform(10, 40), detected=True,
                                          amplitude_nt=0.3 * 10 ** rng.normal(0, 0.15)))
        out.append(obs)
    return out


def run(config_path: str | Path = DENSE_ARRAY, worlds: int = 4, n_quiet: int = 1000, seed: int = 0,
        storm_scatter: float = 15.0, config: NetworkConfig | None = None, outlier_share: float = 0.05,
        stated: str = "mixture") -> dict[str, Any]:
    config = config or NetworkConfig()
    sim = SimConfig.from_dict(load_yaml(config_path)["simulator"])
    rng = np.random.default_rng(seed)
    evs, first = [], None
    for k in range(worlds):
        world = World(replace(sim, seed=sim.seed + k))
        first = first or world
        evs += events(rng, world, outlier_share, stated)
    by_n: dict[str, dict[str, list]] = {k: {"fix": [], "err": [], "inside": [], "refused": []} for k in ("2", "3+")}
    fixed = []
    for ev in evs:
        result = network_window(ev["observations"], config)
        group = by_n["2" if len(ev["observations"]) == 2 else "3+"]
        group["fix"].append(result.alarm)
        if result.no_fix is not None:
            group["refused"].append(result.no_fix.code)
        if result.alarm:
            group["err"].append(distance_km(result.fix.latitude, result.fix.longitude, *ev["source"]))
            group["inside"].append(result.fix.contains(*ev["source"]))
            fixed.append((ev, result.fix))
    out: dict[str, Any] = {"world": str(config_path), "worlds": worlds, "seed": seed, "config": config.to_dict(),
                           "outlier_share": outlier_share, "stated": stated, "events_at_2_or_more": len(evs),
                           "by_stations": {}}
    for name, g in by_n.items():
        out["by_stations"][name] = {
            "events": len(g["fix"]), "fix_share": round(float(np.mean(g["fix"])), 3) if g["fix"] else None,
            "median_error_km": round(float(np.median(g["err"])), 1) if g["err"] else None,
            "p90_error_km": round(float(np.percentile(g["err"], 90)), 1) if g["err"] else None,
            "ellipse_coverage": round(float(np.mean(g["inside"])), 3) if g["inside"] else None,
            "fixes": len(g["err"]),
            "refused": {code: g["refused"].count(code) for code in sorted(set(g["refused"]))},
        }
    quiet = {}
    for kind in ("pulsation", "uniform"):
        windows = quiet_windows(rng, first, n_quiet, kind, storm_scatter)
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
    ap.add_argument("--config", default=str(DENSE_ARRAY), help="YAML with a 'simulator' section")
    ap.add_argument("--worlds", type=int, default=4, help="worlds simulated (seeds from the config's)")
    ap.add_argument("--quiet", type=int, default=1000, help="windows without an emission, of each kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storm-scatter", type=float, default=15.0)
    ap.add_argument("--outlier-share", type=float, default=0.05, help="share of events' bearings uniform at random")
    ap.add_argument("--stated", choices=("mixture", "core"), default="mixture",
                    help="stated uncertainty: the mixture's circular sd (as served) or the von Mises part's")
    ap.add_argument("--network", type=json.loads, default={}, help="NetworkConfig fields as JSON")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.config, args.worlds, args.quiet, args.seed, args.storm_scatter,
                         NetworkConfig.from_dict(args.network), args.outlier_share, args.stated), indent=1))


if __name__ == "__main__":
    main()
