"""Build a training dataset: labelled windows -> spectrogram PNGs + ``metadata/samples.csv``.

Two sources share the labelling and rendering code:
* ``sim``: a simulated world (training.simulate); each station-day is encoded as an FRG-604RC file
  and decoded again with the real reader before windows are cut, so training sees what the service sees.
* ``real``: a directory of station files (any supported format), an earthquake catalogue and optionally Kp.

Rendering uses ``model_store``'s InputSpec, the same as ``/analyze``. Re-running with the same config
reproduces byte-identical metadata (no timestamps, sorted rows).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from model_store import InputSpec, StationSeries, read_series
from model_store.background import Background, median_background
from model_store.baselines import BaselineRules, SourceFile, station_background
from model_store.catalog import read_catalog, write_catalog
from model_store.config import DictConfig
from model_store.errors import ReadError, UnsupportedSamplingError
from model_store.fileio import atomic_write_bytes, atomic_write_text
from model_store.pipeline import RecordTooShortError, plan_record, window_image
from model_store.png import image_to_png
from model_store.stations import Station, get_station
from model_store.windows import Window

from .catalog import KpSeries
from .labels import EVENT, EXCLUDED, NORMAL_KIND, Labeller, LabelRule, WindowLabel, consistency_problems, select_normals
from .simulate import SECONDS_PER_DAY, SimConfig, World
from .writers import to_frg604rc

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = (
    "sample_id", "png", "station", "window_start", "window_end", "kind", "magnitude_class", "azimuth_class",
    "event_id", "magnitude", "distance_km", "bearing_deg", "lead_hours", "kp_max", "valid_fraction",
    "local_hour", "day_of_year", "group_event", "group_station", "group_time_block", "label_reason",
    "emission_nt", "event_emission_nt",
)
DEFAULT_REPRESENTATION = "power"
OTHER_COMMANDS_SECTIONS = ("train", "cv", "station_eval")  # a config file may also hold other commands' settings


@dataclass(frozen=True)
class DatasetOptions(DictConfig):
    config_name = "dataset settings"

    seed: int = 0
    max_per_class: int = 0  # cap on event windows per magnitude class (0 = no cap)
    normal_ratio: float = 1.0  # Normal windows per event window
    normal_selection: str = "all"  # all | matched | storm (the sim configs use matched)
    # further Normal windows, chosen like the samples' Normals but from station-days no sample touches,
    # kept apart for calibration (the alarm threshold) only
    calibration_normals: int = 0
    # a station-relative input (InputSpec background "station"): each station's background from this many
    # days of another period of the same station (model_store.baselines.station_background)
    background_days: int = 7



@dataclass(frozen=True)
class BuildConfig:
    """A dataset recipe: the world (simulated source), the labelling rule, the selection, and one or
    more named input specs (``input_specs``; a single ``input_spec`` is named ``power``): every window is
    rendered once per spec into ``spectrograms/<name>/``."""

    simulator: SimConfig
    labels: LabelRule
    dataset: DatasetOptions
    input_specs: dict[str, InputSpec]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BuildConfig:
        data = {k: v for k, v in (data or {}).items() if k not in OTHER_COMMANDS_SECTIONS}
        unknown = set(data) - {"simulator", "labels", "dataset", "input_spec", "input_specs"}
        if unknown:
            raise ValueError(f"unknown config sections: {sorted(unknown)}")
        if "input_spec" in data and "input_specs" in data:
            raise ValueError("give input_spec or input_specs, not both")
        specs = data.get("input_specs") or {DEFAULT_REPRESENTATION: data.get("input_spec") or {}}
        if not isinstance(specs, dict) or not all(isinstance(v, dict) for v in specs.values()):
            raise ValueError("input_specs must map names to InputSpec fields")
        return cls(
            SimConfig.from_dict(data.get("simulator") or {}),
            LabelRule.from_dict(data.get("labels") or {}),
            DatasetOptions.from_dict(data.get("dataset") or {}),
            {str(name): InputSpec.from_dict(v) for name, v in specs.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulator": self.simulator.to_dict(), "labels": self.labels.to_dict(), "dataset": self.dataset.to_dict(),
            "input_specs": {name: spec.to_dict() for name, spec in self.input_specs.items()},
        }

    @property
    def window_spec(self) -> InputSpec:
        """The spec that cuts windows (all specs must agree on windows and sampling)."""
        specs = list(self.input_specs.values())
        keys = ("sample_interval_s", "window_s", "hop_s", "min_valid_fraction", "max_gap_s")
        if any(getattr(s, k) != getattr(specs[0], k) for s in specs for k in keys):
            raise ValueError(f"all input_specs must share {', '.join(keys)}")
        return specs[0]

    def check_labels_against_simulator(self) -> None:
        sim = self.simulator
        problems = consistency_problems(
            self.labels, detection_m0=sim.detection_m0, detection_km_per_magnitude=sim.detection_km_per_magnitude,
            max_lead_hours=sim.lead_days[1] * 24.0, magnitudes=(sim.magnitude_min, sim.magnitude_max),
            max_reach_km=sim.max_reach_km)
        if problems:
            raise ValueError("the labelling rule contradicts the simulator: " + "; ".join(problems))


def load_input_specs(info: dict[str, Any]) -> dict[str, InputSpec]:
    """The named specs of a built dataset (from its dataset.json)."""
    config = info["config"]
    specs = config.get("input_specs") or {DEFAULT_REPRESENTATION: config.get("input_spec") or {}}
    return {name: InputSpec.from_dict(v) for name, v in specs.items()}


def sample_id(w: WindowLabel) -> str:
    return f"{w.station}_{w.start:%Y%m%dT%H%M}"


def _opt(value: float | None, fmt: str = ".2f") -> str:
    return "" if value is None else format(value, fmt)


def _row(w: WindowLabel, rule: LabelRule) -> dict[str, Any]:
    block = int(w.start.timestamp() // (rule.time_block_days * 86400))
    sid = sample_id(w)
    return {
        "sample_id": sid, "png": f"{sid}.png", "station": w.station,
        "window_start": w.start.strftime("%Y-%m-%dT%H:%M:%SZ"), "window_end": w.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": w.kind, "magnitude_class": w.magnitude_class, "azimuth_class": w.azimuth_class,
        "event_id": w.event_id, "magnitude": "" if w.magnitude is None else f"{w.magnitude:.2f}",
        "distance_km": "" if w.distance_km is None else f"{w.distance_km:.2f}",
        "bearing_deg": "" if w.bearing_deg is None else f"{w.bearing_deg:.2f}",
        "lead_hours": "" if w.lead_hours is None else f"{w.lead_hours:.2f}",
        "kp_max": "" if w.kp_max is None else f"{w.kp_max:.3f}", "valid_fraction": f"{w.valid_fraction:.4f}",
        "local_hour": f"{w.local_hour:.2f}", "day_of_year": w.day_of_year,
        "group_event": w.event_id if w.kind == EVENT else f"normal:{w.station}:{w.start:%Y%m%d}",
        "group_station": w.station, "group_time_block": block, "label_reason": w.reason,
        "emission_nt": _opt(w.emission_nt, ".4f"), "event_emission_nt": _opt(w.event_emission_nt, ".4f"),
    }


def merge_station_day_groups(rows: list[dict[str, Any]]) -> None:
    """Put every window sharing a station-day with an event window into that event's group (in place).

    Windows of one station-day share a background (the day's activity, the station's state); an event
    window and a Normal window of the same station-day must not fall on opposite sides of a split. Events
    linked through a shared station-day are merged into one group.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def day_key(r: dict[str, Any]) -> str:
        return f"day:{r['station']}:{r['window_start'][:10]}"

    for r in rows:
        a, b = find(r["group_event"]), find(day_key(r))
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, set[str]] = {}
    for r in rows:
        members.setdefault(find(day_key(r)), set()).add(r["group_event"])
    for r in rows:
        groups = members[find(day_key(r))]
        events = sorted(g for g in groups if not g.startswith("normal:"))
        r["group_event"] = "+".join(events) if events else r["group_event"]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SAMPLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["sample_id"]))
    atomic_write_text(path, buf.getvalue())


def read_samples(dataset_dir: str | Path) -> list[dict[str, str]]:
    with open(Path(dataset_dir) / "metadata" / "samples.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _label_series(series: StationSeries, spec: InputSpec, labeller: Labeller, lat: float, lon: float
                  ) -> Iterator[tuple[WindowLabel, Window]]:
    """Every window of a record as the window pipeline cuts it (:mod:`model_store.pipeline`), labelled."""
    for w in plan_record(series, spec).windows:
        label = labeller.label(series.station, lat, lon, w.start, w.end, w.valid_fraction)
        if w.data is None:
            label.kind, label.reason = EXCLUDED, f"excluded: {w.skipped_reason}"
            label.magnitude_class = label.azimuth_class = ""
        yield label, w


def _select(labels: list[WindowLabel], options: DatasetOptions) -> tuple[list[WindowLabel], list[WindowLabel]]:
    """(samples, calibration Normals): capped event windows with their Normal windows, and further Normal
    windows from station-days no sample touches."""
    rng = np.random.default_rng(options.seed)
    events = [w for w in labels if w.kind == EVENT]
    if options.max_per_class:
        kept = []
        for cls in sorted({w.magnitude_class for w in events}):
            group = sorted((w for w in events if w.magnitude_class == cls), key=lambda w: (w.station, w.start))
            idx = rng.permutation(len(group))[: options.max_per_class]
            kept += [group[i] for i in sorted(idx)]
        events = kept
    others = [w for w in labels if w.kind != EVENT]
    selection = select_normals(events + others, options.normal_ratio, options.normal_selection, rng)
    if selection.unmatched_events:
        logger.info("%d event windows dropped: their station has no Normal window left to match them",
                    len(selection.unmatched_events))
        dropped = {id(w) for w in selection.unmatched_events}
        events = [w for w in events if id(w) not in dropped]
    samples = events + selection.normals
    calibration: list[WindowLabel] = []
    if options.calibration_normals and events:
        # chosen like the samples' Normals (matched to the same event windows), from other station-days
        used = {(w.station, w.start.date()) for w in samples}
        pool = [w for w in others if w.kind == NORMAL_KIND and (w.station, w.start.date()) not in used]
        ratio = options.calibration_normals / len(events)
        calibration = select_normals(events + pool, ratio, options.normal_selection, rng).normals[
            : options.calibration_normals]
    return samples, calibration


def _summary(rows: list[dict[str, Any]], excluded: int) -> dict[str, Any]:
    return {
        "samples": len(rows),
        "excluded_windows": excluded,
        "magnitude_class": dict(sorted(Counter(r["magnitude_class"] for r in rows).items())),
        "azimuth_class": dict(sorted(Counter(r["azimuth_class"] for r in rows).items())),
        "stations": len({r["station"] for r in rows}),
        "events": len({r["event_id"] for r in rows if r["kind"] == EVENT}),
    }


def _finish(out: Path, rows: list[dict[str, Any]], excluded_rows: list[dict[str, Any]], info: dict[str, Any],
            calibration_rows: list[dict[str, Any]] = ()) -> dict[str, Any]:
    merge_station_day_groups(rows)
    _write_csv(out / "metadata" / "samples.csv", rows)
    _write_csv(out / "metadata" / "calibration.csv", list(calibration_rows))
    _write_csv(out / "metadata" / "excluded.csv", excluded_rows)
    summary = {**_summary(rows, len(excluded_rows)), "calibration_normals": len(calibration_rows)}
    info = {**info, "summary": summary}
    atomic_write_text(out / "dataset.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    logger.info("dataset %s: %d samples; magnitude %s; azimuth %s; %d calibration Normals; %d windows excluded",
                out, summary["samples"], summary["magnitude_class"], summary["azimuth_class"], len(calibration_rows),
                len(excluded_rows))
    return info


def _render(out: Path, sid: str, window: Window, specs: dict[str, InputSpec],
            backgrounds: dict[str, dict[str, Background]] | None = None, station: str = "") -> None:
    """A window's PNG in every representation, its image made by the window pipeline
    (:func:`model_store.pipeline.window_image`); a station-relative one against the station's background."""
    for name, spec in specs.items():
        background = backgrounds[name][station] if spec.background == "station" else None
        atomic_write_bytes(out / "spectrograms" / name / f"{sid}.png",
                           image_to_png(window_image(window, spec, background), spec),
                           durable=False)  # a dataset is rebuilt from its config, not recovered


BACKGROUND_SEED = 1_000_003  # the background period's catalogue and storms: another draw than the world's


def station_backgrounds(config: BuildConfig, world: World) -> dict[str, dict[str, Background]]:
    """Per station-relative spec, each station's background from ``background_days`` days of another period
    of the same stations (same traits; another catalogue and other storms, emissions included: the baseline's
    rules drop what is unlike the rest), each day written as an FRG-604RC file and read back."""
    specs = {name: spec for name, spec in config.input_specs.items() if spec.background == "station"}
    if not specs:
        return {}
    days = config.dataset.background_days
    start = (world.config.start_time - timedelta(days=days + 30)).date().isoformat()
    other = World(replace(world.config, seed=world.config.seed + BACKGROUND_SEED, start=start, days=days))
    rules = BaselineRules()
    out: dict[str, dict[str, Background]] = {name: {} for name in specs}
    for code, st in world.stations.items():
        records = []
        for k in range(days):
            data = to_frg604rc(other.simulate_day(k, [code])[code])
            series = read_series(data, format="frg604rc")
            records.append((SourceFile.of(f"{code}-{k}", data, series.start, series.end), series))
        for name, spec in specs.items():
            out[name][code] = station_background(code, records, spec, rules, st.longitude)
    logger.info("station backgrounds from %d days of another period for %d stations", days, len(world.stations))
    return out


# ---------------------------------------------------------------------------- simulated source
def _sim_day_series(world: World, day: int, codes: list[str]) -> Iterator[StationSeries]:
    for series in world.simulate_day(day, codes).values():
        # round trip through the logger format so the real reader decodes every training sample
        yield read_series(to_frg604rc(series), format="frg604rc")


def _day_windows(world: World, day: int, spec: InputSpec) -> Iterator[tuple[datetime, datetime]]:
    t0 = world.days[day]
    n = (SECONDS_PER_DAY - spec.window_s) // spec.hop_s + 1
    for k in range(int(n)):
        start = t0 + timedelta(seconds=k * spec.hop_s)
        yield start, start + timedelta(seconds=spec.window_s)


def _add_ground_truth(world: World, w: WindowLabel) -> None:
    """Received emission amplitudes (RMS over the window, nT) from the simulator's ground truth."""
    amps = {i.event_id: world.received_amplitude(i, w.start, w.end) for i in world.injections_at(w.station, w.start, w.end)}
    w.emission_nt = max(amps.values(), default=0.0)
    if w.kind == EVENT:
        w.event_emission_nt = amps.get(w.event_id, 0.0)


@dataclass
class _SimJob:
    """What a worker needs to build one day's windows (inherited by forked workers, not pickled)."""

    world: World
    config: BuildConfig
    labeller: Labeller
    selected: set[str]
    out: Path
    backgrounds: dict[str, dict[str, Background]]  # spec name -> station -> background (station-relative specs)


_JOB: _SimJob | None = None


def _build_day(day: int, stations: list[str]) -> list[tuple[WindowLabel, bool]]:
    """Simulate one day at ``stations``, decode it like a real file, render its selected windows.

    Returns (label, rendered) for every selected window of that day; unrendered ones had too many gaps.
    """
    job = _JOB
    assert job is not None
    spec = job.config.window_spec
    out = []
    for series in _sim_day_series(job.world, day, stations):
        st = job.world.stations[series.station]
        for lab, window in _label_series(series, spec, job.labeller, st.latitude, st.longitude):
            sid = sample_id(lab)
            if sid not in job.selected:
                continue
            if window.data is not None:
                _add_ground_truth(job.world, lab)
                _render(job.out, sid, window, job.config.input_specs, job.backgrounds, lab.station)
            out.append((lab, window.data is not None))
    return out


def _days_in_parallel(by_day: dict[int, set[str]], workers: int, progress: bool) -> Iterator[list[tuple[WindowLabel, bool]]]:
    days = sorted(by_day.items())
    bar = tqdm(total=len(days), desc="simulating", unit="day", disable=not progress)
    if workers <= 1:
        for k, (day, stations) in enumerate(days):
            yield _build_day(day, sorted(stations))
            bar.update()
            if not progress and (k + 1) % 50 == 0:
                logger.info("simulated %d of %d days", k + 1, len(days))
        return
    # every day is its own random stream, so the order of work does not change the result
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_build_day, day, sorted(stations)) for day, stations in days]
        for k, future in enumerate(futures):
            yield future.result()
            bar.update()
            if not progress and (k + 1) % 50 == 0:
                logger.info("simulated %d of %d days", k + 1, len(days))


def build_sim(config: BuildConfig, out: str | Path, progress: bool = True, workers: int = 1) -> dict[str, Any]:
    """Build a simulated dataset; ``workers`` > 1 simulates days in forked processes (same result)."""
    global _JOB
    config.check_labels_against_simulator()
    out = Path(out)
    world = World(config.simulator)
    spec = config.window_spec
    labeller = Labeller(world.events, config.labels, world.kp)

    # pass 1: label every window of every station-day from the catalogue alone (cheap)
    labels: list[WindowLabel] = []
    for day in range(config.simulator.days):
        for code, st in world.stations.items():
            for start, end in _day_windows(world, day, spec):
                labels.append(labeller.label(code, st.latitude, st.longitude, start, end))
    samples, calibration = _select(labels, config.dataset)
    selected = {sample_id(w): w for w in samples + calibration}
    is_calibration = {sample_id(w) for w in calibration}

    # pass 2: simulate the station-days holding selected windows, decode them like real files, render
    by_day: dict[int, set[str]] = {}
    for w in selected.values():
        by_day.setdefault((w.start - world.days[0]).days, set()).add(w.station)
    kept: list[WindowLabel] = []
    kept_calibration: list[WindowLabel] = []
    excluded: list[WindowLabel] = [w for w in labels if w.kind == EXCLUDED]
    backgrounds = station_backgrounds(config, world)
    _JOB = _SimJob(world, config, labeller, set(selected), out, backgrounds)
    try:
        for day_results in _days_in_parallel(by_day, workers, progress):
            for lab, rendered in day_results:
                if not rendered:  # too many gaps: reported, not filled
                    excluded.append(lab)
                else:
                    (kept_calibration if sample_id(lab) in is_calibration else kept).append(lab)
    finally:
        _JOB = None

    write_catalog(world.events, out / "world" / "catalog.csv")
    world.kp.write(out / "world" / "kp.csv")
    atomic_write_text(out / "world" / "ground_truth.json", json.dumps(world.ground_truth(), indent=1, sort_keys=True))
    rows = [_row(w, config.labels) for w in kept]
    excluded_rows = [_row(w, config.labels) for w in excluded]
    info = {"source": "simulated", "trained_on": "simulated", "config": config.to_dict()}
    if backgrounds:
        info["backgrounds"] = _background_info(backgrounds)
    return _finish(out, rows, excluded_rows, info, [_row(w, config.labels) for w in kept_calibration])


def _background_info(backgrounds: dict[str, dict[str, Background]]) -> dict[str, Any]:
    """dataset.json's record of the station backgrounds: per spec, each station's and the median of them all
    (the trained model's reference for stations without a baseline)."""
    return {name: {"reference": median_background(list(by_station.values())).reference(),
                   "stations": {code: b.reference() for code, b in sorted(by_station.items())}}
            for name, by_station in backgrounds.items()}


# ---------------------------------------------------------------------------- real source
def _station_files(data_dir: Path) -> Iterable[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def build_real(config: BuildConfig, data_dir: str | Path, catalog: str | Path, out: str | Path,
               kp: str | Path | None = None, progress: bool = True,
               stations: dict[str, Station] | None = None) -> dict[str, Any]:
    """Label and render real station files. A station's coordinates come from ``stations`` (a layout, e.g.
    the ``stations.csv`` a simulated world writes) when given, else from the packaged BMKG table; a
    station the table lacks takes the coordinates in its file's header."""
    out = Path(out)
    spec = config.window_spec
    relative = [name for name, s in config.input_specs.items() if s.background == "station"]
    if relative:
        raise ValueError(f"input_specs {relative}: station-relative inputs are built from simulated worlds only "
                         "(a real archive's per-station background days are not chosen yet)")
    labeller = Labeller(read_catalog(catalog), config.labels, KpSeries.read(kp) if kp else None)
    labels: list[WindowLabel] = []
    skipped_files: list[str] = []
    # Render every usable window as it is read (archives do not fit in memory), drop unselected ones after.
    for path in tqdm(list(_station_files(Path(data_dir))), desc="reading", unit="file", disable=not progress):
        try:
            series = read_series(path)
        except ReadError as exc:
            skipped_files.append(f"{path.name}: {exc}")
            continue
        station = stations.get(series.station.upper()) if stations is not None else get_station(series.station)
        lat = station.latitude if station else series.latitude
        lon = station.longitude if station else series.longitude
        if lat is None or lon is None:
            skipped_files.append(f"{path.name}: station {series.station!r} has no coordinates")
            continue
        try:
            for lab, window in _label_series(series, spec, labeller, lat, lon):
                labels.append(lab)
                if window.data is not None and lab.kind != EXCLUDED:
                    _render(out, sample_id(lab), window, config.input_specs)
        except (UnsupportedSamplingError, RecordTooShortError) as exc:
            skipped_files.append(f"{path.name}: {exc}")
    for note in skipped_files:
        logger.warning("skipped %s", note)
    samples, calibration = _select(labels, config.dataset)
    keep = {sample_id(w) for w in samples + calibration}
    for w in labels:
        if w.kind != EXCLUDED and sample_id(w) not in keep:
            for name in config.input_specs:
                (out / "spectrograms" / name / f"{sample_id(w)}.png").unlink(missing_ok=True)
    rows = [_row(w, config.labels) for w in samples]
    excluded = [_row(w, config.labels) for w in labels if w.kind == EXCLUDED]
    info = {"source": "real", "trained_on": "real", "config": config.to_dict(), "skipped_files": skipped_files,
            "catalog": Path(catalog).name, "kp": Path(kp).name if kp else None}
    return _finish(out, rows, excluded, info, [_row(w, config.labels) for w in calibration])


def read_calibration_normals(dataset_dir: str | Path) -> list[dict[str, str]]:
    path = Path(dataset_dir) / "metadata" / "calibration.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


__all__ = ["BuildConfig", "DatasetOptions", "build_sim", "build_real", "load_input_specs", "read_calibration_normals",
           "read_samples", "SAMPLE_COLUMNS", "merge_station_day_groups"]
