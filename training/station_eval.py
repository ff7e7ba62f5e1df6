"""Stations the model has never seen, judged with and without their own baselines.

A simulated world whose stations carry traits (geology, coast, sensor, neighbourhood) never used in training
(``station_seed``), every station-day written as an FRG-604RC file and read back with the real reader, every
window run through the window pipeline (:mod:`model_store.pipeline`) exactly as ``/analyze`` runs it. Each
station's baseline is made from days of another period of the same station (another catalogue, other storms:
an operator cannot know which days were quiet) through :func:`model_store.baselines.make_baseline`, the code
``PUT /v2/stations/{code}/baseline`` runs. Windows are labelled from the world's catalogue by the training
labelling rule. Reported side by side, per model:

* **model alone**: the alarm at the model's own operating point (what a station without a baseline gets; a
  station-relative model's input made against its training stations' median background);
* **(a)** an absolute model's alarm at ``background_p_value <= false_alarm_rate`` against the station's baseline;
* **(b)** a station-relative model's input made against the station's baseline, its own operating point;
* **(c)** both: the station-relative input and the p-value;

each with the quiet (Normal) windows in alarm overall and per station, the event windows in alarm, the
detection ROC AUC, and the event windows' 8-sector accuracy of the bearing (direction-aware models).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from model_store import read_series
from model_store.background import Background
from model_store.baselines import BaselineError, BaselineRules, SourceFile, StationBaseline, make_baseline
from model_store.compass import sector_index
from model_store.config import DictConfig
from model_store.inference import InferenceEngine
from model_store.pipeline import analyze_series

from .labels import EVENT, NORMAL_KIND, Labeller, LabelRule
from .simulate import SimConfig, World
from .writers import to_frg604rc

logger = logging.getLogger(__name__)

MIN_QUIET_PER_STATION = 5  # per-station rates are reported for stations with at least this many quiet windows


@dataclass(frozen=True)
class StationEvalConfig(DictConfig):
    """The unseen-station world and the baselines' period."""

    config_name = "station evaluation settings"

    station_seed: int = 101  # traits never used in training (the training worlds use station_seed 0)
    seed: int = 2024  # the evaluated period's catalogue, storms and Kp
    start: str = "2024-03-01"
    days: int = 14
    baseline_seed: int = 2025  # another period of the same stations for their baselines
    baseline_start: str = "2024-01-01"
    baseline_days: int = 7
    stations: tuple[str, ...] = ()  # empty = every station of the world's layout


def _frg_day(world: World, day: int, code: str):
    """A station-day as the service reads it: written as an FRG-604RC file, read back with the real reader."""
    data = to_frg604rc(world.simulate_day(day, [code])[code])
    series = read_series(data, format="frg604rc")
    return SourceFile.of(f"S{world.days[day]:%y%m%d}.{code}", data, series.start, series.end), series


@dataclass
class ScoredWindow:
    station: str
    start: datetime
    kind: str  # event | normal
    score: float  # what the alarm is read from (P(event), or 1 - background p-value)
    alarm: bool
    bearing: float | None
    true_bearing: float | None


MODES = {
    "model_alone": "no baseline: the model's own operating point (a station-relative model against the median "
                   "background of its training stations)",
    "a_p_value": "(a) the station's baseline: alarm at background_p_value <= the false-alarm rate (absolute input)",
    "b_relative_input": "(b) input relative to the station's baseline background, the model's own operating point",
    "c_both": "(c) input relative to the station's baseline background and alarm at background_p_value <= the "
              "false-alarm rate",
}


def _station_rows(code: str, world: World, base_world: World, labeller: Labeller, engines: dict[str, InferenceEngine],
                  rules: BaselineRules) -> tuple[dict[str, dict[str, list[ScoredWindow]]], StationBaseline | None,
                                                 str | None]:
    """Every labelled window of a station, per model and per way of judging it (``MODES``)."""
    station = world.stations[code]
    models = {ref: (e.loaded.input_spec, e.predict) for ref, e in engines.items()}
    try:
        baseline = make_baseline(code, [_frg_day(base_world, d, code) for d in range(len(base_world.days))], models,
                                 rules, (station.latitude, station.longitude))
        refused = None
    except BaselineError as exc:
        baseline, refused = None, str(exc)
    rows: dict[str, dict[str, list[ScoredWindow]]] = {ref: {m: [] for m in MODES} for ref in engines}
    for day in range(len(world.days)):
        _, series = _frg_day(world, day, code)
        for ref, engine in engines.items():
            spec = engine.loaded.input_spec
            relative = spec.background == "station"
            judged = [("model_alone", engine.loaded.reference_background(station.longitude))]
            if baseline is not None:
                judged.append(("station", Background.from_spectra(baseline.spectra[spec.absolute.fingerprint], spec,
                                                                  station.longitude, f"station {code}'s baseline")
                               if relative else None))
            for how, background in judged:
                for o in analyze_series(series, spec, engine.predict, background=background):
                    if o.prediction is None:
                        continue
                    label = labeller.label(code, station.latitude, station.longitude, o.window.start, o.window.end)
                    if label.kind not in (EVENT, NORMAL_KIND):
                        continue
                    pred = o.prediction

                    def add(mode: str, score: float, alarm: bool) -> None:
                        rows[ref][mode].append(ScoredWindow(code, o.window.start, label.kind, score, alarm,
                                                            pred.bearing_deg, label.bearing_deg))

                    if how == "model_alone":
                        add("model_alone", pred.precursor_probability, pred.alarm)
                        continue
                    p = baseline.p_value(ref, pred.precursor_probability)
                    add("c_both" if relative else "a_p_value", 1.0 - p, baseline.alarm(p))
                    if relative:
                        add("b_relative_input", pred.precursor_probability, pred.alarm)
    return rows, baseline, refused


def _rates(rows: list[ScoredWindow], alarm) -> dict[str, Any]:
    quiet = [r for r in rows if r.kind == NORMAL_KIND]
    events = [r for r in rows if r.kind == EVENT]
    per_station: dict[str, dict[str, Any]] = {}
    for code in sorted({r.station for r in rows}):
        q = [r for r in quiet if r.station == code]
        e = [r for r in events if r.station == code]
        per_station[code] = {
            "quiet_windows": len(q), "event_windows": len(e),
            "quiet_in_alarm": None if len(q) < MIN_QUIET_PER_STATION else round(float(np.mean([alarm(r) for r in q])), 4),
            "events_in_alarm": round(float(np.mean([alarm(r) for r in e])), 4) if e else None,
        }
    rated = [s["quiet_in_alarm"] for s in per_station.values() if s["quiet_in_alarm"] is not None]
    return {
        "quiet_windows": len(quiet), "event_windows": len(events),
        "quiet_in_alarm": round(float(np.mean([alarm(r) for r in quiet])), 4) if quiet else None,
        "events_in_alarm": round(float(np.mean([alarm(r) for r in events])), 4) if events else None,
        "worst_station_quiet_in_alarm": max(rated, default=None),
        "stations_over_0.10": sorted(c for c, s in per_station.items()
                                     if s["quiet_in_alarm"] is not None and s["quiet_in_alarm"] > 0.10),
        "per_station": per_station,
    }


def _auc(rows: list[ScoredWindow], score) -> float | None:
    y = [r.kind == EVENT for r in rows]
    if all(y) or not any(y):
        return None
    return round(float(roc_auc_score(y, [score(r) for r in rows])), 4)


def summarise(rows: list[ScoredWindow]) -> dict[str, Any]:
    events = [r for r in rows if r.kind == EVENT and r.bearing is not None and r.true_bearing is not None]
    return {**_rates(rows, lambda r: r.alarm), "detection_auc": _auc(rows, lambda r: r.score),
            "event_sector_accuracy": round(float(np.mean([sector_index(r.bearing) == sector_index(r.true_bearing)
                                                          for r in events])), 4) if events else None}


def run(sim: SimConfig, labels: LabelRule, engines: dict[str, InferenceEngine], config: StationEvalConfig,
        rules: BaselineRules | None = None) -> dict[str, Any]:
    rules = rules or BaselineRules()
    evaluated = replace(sim, seed=config.seed, station_seed=config.station_seed, start=config.start, days=config.days,
                        stations=config.stations or sim.stations)
    world = World(evaluated)
    base_world = World(replace(evaluated, seed=config.baseline_seed, start=config.baseline_start,
                               days=config.baseline_days))
    labeller = Labeller(world.events, labels, world.kp)
    rows: dict[str, dict[str, list[ScoredWindow]]] = {ref: {m: [] for m in MODES} for ref in engines}
    baselines: dict[str, Any] = {}
    for k, code in enumerate(world.stations):
        station_rows, baseline, refused = _station_rows(code, world, base_world, labeller, engines, rules)
        for ref, by_mode in station_rows.items():
            for mode, r in by_mode.items():
                rows[ref][mode] += r
        baselines[code] = (baseline.windows if baseline else {"refused": refused})
        logger.info("station %s (%d of %d): baseline %s", code, k + 1, len(world.stations),
                    "made" if baseline else f"refused ({refused})")
    return {
        "config": config.to_dict(), "simulator": {"station_seed": config.station_seed, "seed": config.seed},
        "baseline_rules": rules.to_dict(), "baselines": baselines,
        "modes": MODES,
        "models": {ref: {mode: summarise(r) for mode, r in by_mode.items() if r} for ref, by_mode in rows.items()},
    }


__all__ = ["StationEvalConfig", "run", "summarise"]
