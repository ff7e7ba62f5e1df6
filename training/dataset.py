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
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from model_store import InputSpec, StationSeries, read_series
from model_store.config import DictConfig
from model_store.errors import ReadError, UnsupportedSamplingError
from model_store.spectrogram import conform_sampling, cut_windows, image_to_png, window_to_image
from model_store.stations import get_station

from model_store.fileio import atomic_write_bytes, atomic_write_text

from .catalog import KpSeries, read_catalog, write_catalog
from .labels import EVENT, EXCLUDED, Labeller, LabelRule, WindowLabel, select_normals
from .simulate import SECONDS_PER_DAY, SimConfig, World
from .writers import to_frg604rc

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = (
    "sample_id", "png", "station", "window_start", "window_end", "kind", "magnitude_class", "azimuth_class",
    "event_id", "magnitude", "distance_km", "bearing_deg", "lead_hours", "kp_max", "valid_fraction",
    "local_hour", "day_of_year", "group_event", "group_station", "group_time_block", "label_reason",
)


@dataclass(frozen=True)
class DatasetOptions(DictConfig):
    config_name = "dataset settings"

    seed: int = 0
    max_per_class: int = 0  # cap on event windows per magnitude class (0 = no cap)
    normal_ratio: float = 1.0  # Normal windows per event window
    normal_selection: str = "all"  # all | matched | storm (the sim configs use matched)



@dataclass(frozen=True)
class BuildConfig:
    simulator: SimConfig
    labels: LabelRule
    dataset: DatasetOptions
    input_spec: InputSpec

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BuildConfig:
        data = dict(data or {})
        unknown = set(data) - {"simulator", "labels", "dataset", "input_spec"}
        if unknown:
            raise ValueError(f"unknown config sections: {sorted(unknown)}")
        return cls(
            SimConfig.from_dict(data.get("simulator") or {}),
            LabelRule.from_dict(data.get("labels") or {}),
            DatasetOptions.from_dict(data.get("dataset") or {}),
            InputSpec.from_dict(data.get("input_spec") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulator": self.simulator.to_dict(), "labels": self.labels.to_dict(),
            "dataset": self.dataset.to_dict(), "input_spec": self.input_spec.to_dict(),
        }


def sample_id(w: WindowLabel) -> str:
    return f"{w.station}_{w.start:%Y%m%dT%H%M}"


def _row(w: WindowLabel, rule: LabelRule) -> dict[str, Any]:
    block = int(w.start.timestamp() // (rule.time_block_days * 86400))
    sid = sample_id(w)
    return {
        "sample_id": sid, "png": f"spectrograms/{sid}.png", "station": w.station,
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
    }


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
                  ) -> Iterator[tuple[WindowLabel, np.ndarray | None]]:
    for w in cut_windows(conform_sampling(series, spec), spec):
        label = labeller.label(series.station, lat, lon, w.start, w.end, w.valid_fraction)
        if w.data is None:
            label.kind, label.reason = EXCLUDED, f"excluded: {w.skipped_reason}"
            label.magnitude_class = label.azimuth_class = ""
        yield label, w.data


def _select(labels: list[WindowLabel], options: DatasetOptions) -> list[WindowLabel]:
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
    normals = select_normals(events + others, options.normal_ratio, options.normal_selection, rng)
    return events + normals


def _summary(rows: list[dict[str, Any]], excluded: int) -> dict[str, Any]:
    return {
        "samples": len(rows),
        "excluded_windows": excluded,
        "magnitude_class": dict(sorted(Counter(r["magnitude_class"] for r in rows).items())),
        "azimuth_class": dict(sorted(Counter(r["azimuth_class"] for r in rows).items())),
        "stations": len({r["station"] for r in rows}),
        "events": len({r["event_id"] for r in rows if r["kind"] == EVENT}),
    }


def _finish(out: Path, rows: list[dict[str, Any]], excluded_rows: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    _write_csv(out / "metadata" / "samples.csv", rows)
    _write_csv(out / "metadata" / "excluded.csv", excluded_rows)
    summary = _summary(rows, len(excluded_rows))
    info = {**info, "summary": summary}
    atomic_write_text(out / "dataset.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    logger.info("dataset %s: %d samples; magnitude %s; azimuth %s; %d windows excluded",
                out, summary["samples"], summary["magnitude_class"], summary["azimuth_class"], len(excluded_rows))
    return info


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


def build_sim(config: BuildConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    out = Path(out)
    world = World(config.simulator)
    spec = config.input_spec
    labeller = Labeller(world.events, config.labels, world.kp)

    # pass 1: label every window of every station-day from the catalogue alone (cheap)
    labels: list[WindowLabel] = []
    for day in range(config.simulator.days):
        for code, st in world.stations.items():
            for start, end in _day_windows(world, day, spec):
                labels.append(labeller.label(code, st.latitude, st.longitude, start, end))
    selected = {sample_id(w): w for w in _select(labels, config.dataset)}

    # pass 2: simulate the station-days holding selected windows, decode them like real files, render
    by_day: dict[int, set[str]] = {}
    for w in selected.values():
        by_day.setdefault((w.start - world.days[0]).days, set()).add(w.station)
    (out / "spectrograms").mkdir(parents=True, exist_ok=True)
    kept: list[WindowLabel] = []
    excluded: list[WindowLabel] = [w for w in labels if w.kind == EXCLUDED]
    for day, stations in tqdm(sorted(by_day.items()), desc="simulating", unit="day", disable=not progress):
        for series in _sim_day_series(world, day, sorted(stations)):
            st = world.stations[series.station]
            for lab, data in _label_series(series, spec, labeller, st.latitude, st.longitude):
                sid = sample_id(lab)
                if sid not in selected:
                    continue
                if data is None:  # too many gaps: reported, not filled
                    excluded.append(lab)
                    continue
                atomic_write_bytes(out / "spectrograms" / f"{sid}.png", image_to_png(window_to_image(data, spec)))
                kept.append(lab)

    write_catalog(world.events, out / "world" / "catalog.csv")
    world.kp.write(out / "world" / "kp.csv")
    atomic_write_text(out / "world" / "ground_truth.json", json.dumps(world.ground_truth(), indent=1, sort_keys=True))
    rows = [_row(w, config.labels) for w in kept]
    excluded_rows = [_row(w, config.labels) for w in excluded]
    return _finish(out, rows, excluded_rows, {"source": "simulated", "trained_on": "simulated", "config": config.to_dict()})


# ---------------------------------------------------------------------------- real source
def _station_files(data_dir: Path) -> Iterable[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def build_real(config: BuildConfig, data_dir: str | Path, catalog: str | Path, out: str | Path,
               kp: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    out = Path(out)
    spec = config.input_spec
    labeller = Labeller(read_catalog(catalog), config.labels, KpSeries.read(kp) if kp else None)
    labels: list[WindowLabel] = []
    skipped_files: list[str] = []
    png_dir = out / "spectrograms"
    png_dir.mkdir(parents=True, exist_ok=True)
    # Render every usable window as it is read (archives do not fit in memory), drop unselected ones after.
    for path in tqdm(list(_station_files(Path(data_dir))), desc="reading", unit="file", disable=not progress):
        try:
            series = read_series(path)
        except ReadError as exc:
            skipped_files.append(f"{path.name}: {exc}")
            continue
        station = get_station(series.station)
        lat = station.latitude if station else series.latitude
        lon = station.longitude if station else series.longitude
        if lat is None or lon is None:
            skipped_files.append(f"{path.name}: station {series.station!r} has no coordinates")
            continue
        try:
            for lab, data in _label_series(series, spec, labeller, lat, lon):
                labels.append(lab)
                if data is not None and lab.kind != EXCLUDED:
                    atomic_write_bytes(png_dir / f"{sample_id(lab)}.png", image_to_png(window_to_image(data, spec)))
        except UnsupportedSamplingError as exc:
            skipped_files.append(f"{path.name}: {exc}")
    for note in skipped_files:
        logger.warning("skipped %s", note)
    selected = _select(labels, config.dataset)
    keep = {sample_id(w) for w in selected}
    for w in labels:
        if w.kind != EXCLUDED and sample_id(w) not in keep:
            (png_dir / f"{sample_id(w)}.png").unlink(missing_ok=True)
    rows = [_row(w, config.labels) for w in selected]
    excluded = [_row(w, config.labels) for w in labels if w.kind == EXCLUDED]
    info = {"source": "real", "trained_on": "real", "config": config.to_dict(), "skipped_files": skipped_files,
            "catalog": Path(catalog).name, "kp": Path(kp).name if kp else None}
    return _finish(out, rows, excluded, info)


__all__ = ["BuildConfig", "DatasetOptions", "build_sim", "build_real", "read_samples", "SAMPLE_COLUMNS"]
