"""``skill``: an archive's alarms against an earthquake catalogue (:mod:`model_store.skill`).

Station alarms (the default): every window judged against its rolling baseline is a row of
:class:`~model_store.skill.AlarmRows` with score ``1 - background_p_value`` and the row's ``alarm``
(``--score probability``: every analysed window, score P(event) and the model's own operating point instead).
Windows without a p-value (a station's first days) are left out and counted. Network alarms (``--network``):
every common window of ``network OUT`` is a row of one pseudo-station placed at the stations' centroid (targets
are events within the rule's radius of it), scored by the network score and alarmed where there is a fix.

The catalogue is a BMKG-layout or a USGS ComCat CSV (:func:`model_store.catalog.read_catalog`). The report
(``OUT/skill/`` or ``--report``) is :func:`model_store.skill.write_skill_report`'s: Molchan diagram, area skill
score and probability gain with bootstrap intervals, the random-alarm line and band, the catalogue shifted in
time, random circular alarm shifts; and below it what was scored here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from model_store.catalog import read_catalog
from model_store.fileio import atomic_write_text
from model_store.skill import AlarmRows, TargetRule, score_alarms, write_skill_report
from model_store.stations import Station

from .network import NETWORK_CODE
from .tables import read_windows

SCORES = ("background", "probability")


def station_rows(out: Path, score: str, stations: Mapping[str, Station] | None
                 ) -> tuple[AlarmRows, dict[str, tuple[float, float]], dict[str, Any]]:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}")
    t = read_windows(out, ["station", "start", "end", "precursor_probability", "model_alarm", "background_p_value",
                           "alarm", "latitude", "longitude"])
    if t.num_rows == 0:
        raise FileNotFoundError(f"{out}: no windows (run `python -m archive analyze ... --out {out}` first)")
    analysed = t["precursor_probability"].is_valid()
    judged = t["background_p_value"].is_valid()
    n_analysed, n_judged = pc.sum(analysed).as_py() or 0, pc.sum(judged).as_py() or 0
    sel = t.filter(judged if score == "background" else analysed)
    if sel.num_rows == 0:
        raise ValueError(f"{out}: no window has a background p-value yet (a station needs "
                         "its first days for a rolling baseline); use --score probability")
    if score == "background":
        values = 1.0 - sel["background_p_value"].to_numpy(zero_copy_only=False)
        alarm = sel["alarm"].to_numpy(zero_copy_only=False)
        what = "1 - background_p_value (rolling station baseline); alarm at its false-alarm rate"
    else:
        values = sel["precursor_probability"].to_numpy(zero_copy_only=False)
        alarm = sel["model_alarm"].to_numpy(zero_copy_only=False)
        what = "P(event); alarm at the model's own operating point"
    codes = sel["station"].to_numpy(zero_copy_only=False).astype(str)
    names, first = np.unique(codes, return_index=True)
    coords: dict[str, tuple[float, float]] = {}
    for code, i in zip(names.tolist(), first.tolist()):
        lat, lon = sel["latitude"][i].as_py(), sel["longitude"][i].as_py()
        if stations and code in stations:
            coords[code] = (stations[code].latitude, stations[code].longitude)
        elif lat is not None and lon is not None:
            coords[code] = (lat, lon)
    missing = sorted(set(names.tolist()) - set(coords))
    if missing:
        raise ValueError(f"no position for station(s) {', '.join(missing)}: give --stations CSV")
    rows = AlarmRows(codes, sel["start"].to_numpy(), sel["end"].to_numpy(), values, alarm.astype(bool))
    info = {"alarms": "station", "score": what, "windows": t.num_rows, "analysed": n_analysed,
            "scored": sel.num_rows, "left_out_without_p_value": n_analysed - n_judged if score == "background" else 0}
    return rows, coords, info


def network_rows(out: Path) -> tuple[AlarmRows, dict[str, tuple[float, float]], dict[str, Any]]:
    folder = out / "network"
    if not (folder / "windows.parquet").exists():
        raise FileNotFoundError(f"{out}: no network windows (run `python -m archive network {out}` first)")
    summary = json.loads((folder / "summary.json").read_text())
    d = pq.read_table(folder / "windows.parquet").to_pydict()
    if not d["start"]:
        raise ValueError(f"{out}: the network table has no windows")
    n = len(d["start"])
    rows = AlarmRows(np.array([NETWORK_CODE] * n), d["start"], d["end"], np.array(d["score"], dtype=float),
                     np.array(d["alarm"], dtype=bool))
    centroid = tuple(summary["centroid"])
    info = {"alarms": "network", "score": summary["score"], "windows": n, "scored": n,
            "placed_at": {"latitude": centroid[0], "longitude": centroid[1],
                          "why": "the centroid of the network's stations (targets within the rule's radius of it)"}}
    return rows, {NETWORK_CODE: centroid}, info


def run_skill(out: str | Path, catalog: str | Path, *, network: bool = False, score: str = "background",
              rule: TargetRule | None = None, stations: Mapping[str, Station] | None = None,
              report: str | Path | None = None, n_boot: int = 1000, seed: int = 0,
              random_alarm_repeats: int = 200, cluster_days: float | None = None,
              shift_days: Sequence[float] | None = None) -> dict[str, Any]:
    """Score the archive's station (or network) alarms against ``catalog``; write the report; the result."""
    out = Path(out)
    rows, coords, info = network_rows(out) if network else station_rows(out, score, stations)
    events = read_catalog(catalog)
    result = score_alarms(rows, events, coords, rule or TargetRule(), n_boot=n_boot, seed=seed,
                          random_alarm_repeats=random_alarm_repeats, cluster_days=cluster_days,
                          shift_days=shift_days)
    result["archive"] = {**info, "catalog": str(catalog), "out": str(out)}
    folder = Path(report) if report else out / ("skill_network" if network else "skill")
    archive = json.loads((out / "archive.json").read_text()) if (out / "archive.json").exists() else {}
    title = f"{'Network' if network else 'Station'} alarms of {archive.get('model', 'the archive')} against {Path(catalog).name}"
    write_skill_report(result, folder, title)
    lines = ["", "## What was scored", "",
             f"- alarms: {info['alarms']}; score: {info['score']}",
             f"- windows in the archive: {info['windows']}; scored: {info['scored']}"]
    if info.get("left_out_without_p_value"):
        lines.append(f"- left out: {info['left_out_without_p_value']} analysed windows without a background p-value "
                     "(a station's first days, before its rolling baseline has enough days)")
    if "placed_at" in info:
        p = info["placed_at"]
        lines.append(f"- the network is one pseudo-station at {p['latitude']:.4f}, {p['longitude']:.4f}: {p['why']}")
    lines.append(f"- catalogue: {catalog}")
    report_md = folder / "report.md"
    atomic_write_text(report_md, report_md.read_text() + "\n".join(lines) + "\n")
    return result


__all__ = ["SCORES", "network_rows", "run_skill", "station_rows"]
