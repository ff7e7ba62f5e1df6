"""``network``: the network stage over an archive's rows (:func:`model_store.network.network_window`).

The rows of every station are grouped by window start (windows of day files start at the same UTC times at
every station; windows that start at other times are grouped only with those that start at the same instant).
In each common window every analysed station gives an observation: its position, bearing and its circular
standard deviation (``bearing_uncertainty_deg``), the received band amplitude and its background p-value. A
station detects when its p-value is at most ``detection_p_value``; a station without a p-value (no rolling
baseline yet) does not detect. Where at least ``min_stations`` detect, the network stage tries a fix; every
such window is a row of the candidate-source table, with the fix (position, ellipse, stations used, residuals,
distances, magnitude class where a magnitude model is given) or the reason there is none.

The detection threshold defaults to the archive's false-alarm rate, not to :class:`NetworkConfig`'s 0.01: a
rolling baseline of n windows cannot give a p-value below 1 / (n + 1) (1/57 with 14 days of 6-hour windows),
so 0.01 would never be reached.

Written to ``OUT/network/``: ``candidates.parquet`` (the candidate sources), ``windows.parquet`` (every common
window: stations analysed, detecting, alarm and the network score that ``skill --network`` ranks by) and
``summary.json``. The network score is the share of stations that detect, plus 1 when there is a consistent
fix: windows with a fix rank above all without, and more coincident detections rank higher.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from model_store.network import MagnitudeModel, NetworkConfig, StationObservation, network_window
from model_store.stations import Station

from .store import write_json
from .tables import UTC_US, read_windows, write_parquet

logger = logging.getLogger("archive")
NETWORK_CODE = "NETWORK"

CANDIDATE_SCHEMA = pa.schema([
    ("start", UTC_US), ("end", UTC_US), ("n_stations", pa.int32()), ("n_detecting", pa.int32()),
    ("stations_detecting", pa.list_(pa.string())), ("alarm", pa.bool_()), ("reason", pa.string()),
    ("no_fix_code", pa.string()), ("latitude", pa.float64()), ("longitude", pa.float64()),
    ("semi_major_km", pa.float64()), ("semi_minor_km", pa.float64()), ("ellipse_azimuth_deg", pa.float64()),
    ("confidence", pa.float64()), ("stations_used", pa.list_(pa.string())), ("residual_rms_deg", pa.float64()),
    ("consistency_p_value", pa.float64()), ("dropped", pa.string()), ("station_distances", pa.string()),
    ("magnitude_label", pa.string()), ("magnitude_probabilities", pa.string()), ("magnitude_reason", pa.string()),
])
WINDOW_SCHEMA = pa.schema([
    ("start", UTC_US), ("end", UTC_US), ("n_stations", pa.int32()), ("n_detecting", pa.int32()),
    ("alarm", pa.bool_()), ("score", pa.float64()),
])
COLUMNS = ["station", "start", "end", "precursor_probability", "background_p_value", "bearing_deg",
           "bearing_uncertainty_deg", "band_amplitude_nt", "latitude", "longitude"]


def _value(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _candidate(start: Any, end: Any, n: int, result: Any) -> dict[str, Any]:
    fix = result.fix
    row = {"start": start, "end": end, "n_stations": n, "n_detecting": len(result.stations_detecting),
           "stations_detecting": list(result.stations_detecting), "alarm": result.alarm, "reason": result.reason,
           "no_fix_code": None if result.no_fix is None else result.no_fix.code,
           "magnitude_label": None if result.magnitude is None else result.magnitude.label,
           "magnitude_probabilities": None if result.magnitude is None else json.dumps(result.magnitude.probabilities),
           "magnitude_reason": result.magnitude_reason}
    if fix is not None:
        row.update(latitude=fix.latitude, longitude=fix.longitude, semi_major_km=fix.ellipse.semi_major_km,
                   semi_minor_km=fix.ellipse.semi_minor_km, ellipse_azimuth_deg=fix.ellipse.azimuth_deg,
                   confidence=fix.confidence, stations_used=list(fix.stations_used),
                   residual_rms_deg=fix.residual_rms_deg, consistency_p_value=fix.consistency_p_value,
                   dropped="; ".join(f"{c}: {r}" for c, r in fix.dropped) or None,
                   station_distances=json.dumps([d.to_dict() for d in result.distances]))
    return row


def _positions(out: Path, stations: Mapping[str, Station] | None) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Each analysed station's position: the ``stations`` table's, else the one its rows carry."""
    t = read_windows(out, ["station", "latitude", "longitude"])
    if t.num_rows == 0:
        raise FileNotFoundError(f"{out}: no windows (run `python -m archive analyze ... --out {out}` first)")
    positions: dict[str, tuple[float, float]] = {}
    codes = t["station"].to_numpy(zero_copy_only=False)
    first = {c: i for i, c in reversed(list(enumerate(codes)))}  # each station's first row
    lat, lon = t["latitude"], t["longitude"]
    for code, i in sorted(first.items()):
        if stations and code in stations:
            positions[code] = (stations[code].latitude, stations[code].longitude)
        elif lat[i].is_valid and lon[i].is_valid:
            positions[code] = (lat[i].as_py(), lon[i].as_py())
    return positions, sorted(set(first) - set(positions))


def _year(out: Path, year: int, positions: dict[str, tuple[float, float]], config: NetworkConfig,
          magnitude_model: MagnitudeModel | None, candidates: list, windows: list, codes: Counter) -> None:
    """One year's common windows (a window belongs to the year it starts in, as the dataset's partitions)."""
    import pyarrow.compute as pc

    t = read_windows(out, COLUMNS, filter=pc.field("year") == year)
    t = t.filter(pc.and_(t["precursor_probability"].is_valid(),
                         pc.is_in(t["station"], value_set=pa.array(sorted(positions), pa.string()))))
    if t.num_rows == 0:
        return
    t = t.sort_by([("start", "ascending"), ("station", "ascending")])
    start_us = t["start"].cast(pa.int64()).to_numpy()
    p = t["background_p_value"].fill_null(np.nan).to_numpy(zero_copy_only=False)
    detects = np.nan_to_num(p, nan=np.inf) <= config.detection_p_value  # StationObservation.is_detection's test
    bounds = np.flatnonzero(np.r_[True, start_us[1:] != start_us[:-1], True])
    n_det = np.add.reduceat(detects.astype(np.int64), bounds[:-1])
    starts, ends = t["start"], t["end"]
    for k, (a, b) in enumerate(pairwise(bounds)):
        n = int(b - a)
        alarm = False
        if n_det[k] >= config.min_stations:
            rows = t.slice(a, n).to_pylist()
            obs = [StationObservation(r["station"], *positions[r["station"]], bearing_deg=_value(r["bearing_deg"]),
                                      uncertainty_deg=_value(r["bearing_uncertainty_deg"]),
                                      p_value=_value(r["background_p_value"]), detected=False,
                                      amplitude_nt=_value(r["band_amplitude_nt"])) for r in rows]
            result = network_window(obs, config, magnitude_model)
            alarm = result.alarm
            candidates.append(_candidate(rows[0]["start"], max(r["end"] for r in rows), n, result))
            codes["fix" if alarm else result.no_fix.code] += 1
        windows.append({"start": starts[a].as_py(), "end": max(ends.slice(a, n).to_pylist()), "n_stations": n,
                        "n_detecting": int(n_det[k]), "alarm": alarm,
                        "score": n_det[k] / n + (1.0 if alarm else 0.0)})


def run_network(out: str | Path, config: NetworkConfig | None = None, stations: Mapping[str, Station] | None = None,
                magnitude_model: MagnitudeModel | None = None) -> dict[str, Any]:
    """The network stage over ``out``'s windows, a year at a time; writes ``out/network/``; the summary."""
    out = Path(out)
    archive = json.loads((out / "archive.json").read_text()) if (out / "archive.json").exists() else {}
    if config is None:
        rate = archive.get("rolling", {}).get("baseline", {}).get("false_alarm_rate", 0.05)
        config = NetworkConfig(detection_p_value=float(rate))
    positions, unplaced = _positions(out, stations)
    years = sorted({int(d.name.removeprefix("year=")) for d in (out / "windows").glob("station=*/year=*")})
    candidates: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    codes: Counter = Counter()
    for year in years:
        _year(out, year, positions, config, magnitude_model, candidates, windows, codes)
    folder = out / "network"
    write_parquet(pa.Table.from_pylist(candidates, schema=CANDIDATE_SCHEMA), folder / "candidates.parquet")
    write_parquet(pa.Table.from_pylist(windows, schema=WINDOW_SCHEMA), folder / "windows.parquet")
    lat = np.array([q[0] for q in positions.values()])
    lon = np.array([q[1] for q in positions.values()])
    summary = {
        "windows": len(windows), "stations": sorted(positions), "stations_without_position": unplaced,
        "candidates": len(candidates), "fixes": codes.get("fix", 0),
        "no_fix": {k: v for k, v in codes.items() if k != "fix"},
        "config": config.to_dict(), "magnitude_model": None if magnitude_model is None else magnitude_model.fitted_on,
        "centroid": None if not len(lat) else [float(lat.mean()), float(lon.mean())],
        "detection": f"background_p_value <= {config.detection_p_value:g}",
        "score": "share of analysed stations detecting, plus 1 where there is a consistent fix",
    }
    write_json(folder / "summary.json", summary)
    return summary


__all__ = ["CANDIDATE_SCHEMA", "NETWORK_CODE", "WINDOW_SCHEMA", "run_network"]
