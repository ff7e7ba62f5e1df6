"""The second pass: each window judged against a baseline made from its station's own preceding days.

The station-baseline definition (:mod:`model_store.baselines`), rolling: for the windows of station S that
start on UTC day D, the baseline is S's windows that start in the ``days`` days before D, ``[D - days, D)``.
Of those, the windows a baseline keeps are chosen by the same rule a hand-made baseline uses,
:func:`model_store.baselines.ordinary_windows`: skipped windows (missing samples) are dropped, and of the rest
those whose emission-band power is unlike the station's other windows at that local time (more than
``outlier_mad`` scaled MADs; storms, emissions, artefacts). A window's ``background_p_value`` is the conformal
p-value of its P(event) among the kept windows' P(event), (1 + #{kept >= s}) / (n + 1)
(:func:`model_store.baselines.conformal_p_values`), and its ``alarm`` is ``p <= false_alarm_rate``. A day
whose baseline keeps fewer than ``min_windows`` windows or spans fewer than ``min_days`` days has no p-value
(null, and ``alarm`` null): the first days of every station, and days after a long outage.

The smallest p-value a baseline of n windows can give is 1 / (n + 1): 14 days of four 6-hour windows give
1/57 = 0.018, so an alarm at 0.05 can be reached but a detection threshold of 0.01 cannot.

A station's days depend on each other this way, so the pass runs per station over its rows in time order,
after the per-file tasks; it is cheap (numpy on a few thousand rows per station-year) and runs as one task per
station. Windows seen twice (overlapping input files) are kept once: the row of the first file by URL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from model_store.baselines import BaselineRules, conformal_p_values, local_time_band, ordinary_windows

from .tables import windows_schema, write_parquet

DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class RollingRules:
    """How each day's baseline is made: from the ``days`` days before it, needing ``min_days`` of them and the
    ``baseline`` rules' ``min_windows`` kept windows; alarms at the ``baseline`` rules' false-alarm rate."""

    days: int = 14
    min_days: int = 3
    baseline: BaselineRules = field(default_factory=BaselineRules)

    def __post_init__(self) -> None:
        if self.days < 1 or not 1 <= self.min_days <= self.days:
            raise ValueError("rolling baseline: days >= 1 and 1 <= min_days <= days")

    def to_dict(self) -> dict[str, Any]:
        return {"days": self.days, "min_days": self.min_days, "baseline": self.baseline.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RollingRules:
        return cls(int(data["days"]), int(data["min_days"]), BaselineRules.from_dict(data["baseline"]))


def rolling_p_values(start_us: np.ndarray, usable: np.ndarray, score: np.ndarray, band_db: np.ndarray,
                     local_band: np.ndarray, rules: RollingRules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window (sorted by start): background p-value (NaN where none), baseline windows kept, their days."""
    n = len(start_us)
    p = np.full(n, np.nan)
    n_kept = np.zeros(n, np.int32)
    n_days = np.zeros(n, np.int16)
    day = start_us // DAY_US
    for d in np.unique(day):
        lo = np.searchsorted(start_us, (d - rules.days) * DAY_US, side="left")
        hi = np.searchsorted(start_us, d * DAY_US, side="left")
        now = np.flatnonzero((day == d) & usable)
        if hi <= lo or not len(now):
            continue
        idx = np.arange(lo, hi)
        keep, _ = ordinary_windows(band_db[idx], local_band[idx], usable[idx], rules.baseline)
        kept = idx[keep]
        days_kept = len(np.unique(day[kept]))
        n_kept[now], n_days[now] = len(kept), days_kept
        if len(kept) >= rules.baseline.min_windows and days_kept >= rules.min_days:
            p[now] = conformal_p_values(np.sort(score[kept]), score[now])
    return p, n_kept, n_days


def station_fingerprint(entries: Sequence[dict[str, Any]], rules: RollingRules,
                        position: tuple[float, float] | None) -> str:
    """What a station's judged rows depend on: its inputs (URL, checksum, settings), the rules, its position."""
    parts = sorted((e["url"], e.get("checksum"), e.get("settings")) for e in entries)
    payload = json.dumps([parts, rules.to_dict(), position], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def station_dir(windows: Path, station: str) -> Path:
    return windows / f"station={quote(station, safe='')}"


def judge_station(station: str, parts: Sequence[str], windows: str, rules: RollingRules,
                  labels: dict[str, list[str]], given: tuple[float, float] | None = None,
                  packaged: tuple[float, float] | None = None) -> dict[str, Any]:
    """Read a station's parts, judge every window, write ``windows/station=S/year=Y/part-0.parquet`` per year
    (atomically; years no longer present are removed) and return what was done.

    The station's position (its longitude sets the local-time bands of the outlier rule; the network stage
    reads both) is ``given`` (a ``--stations`` table), else the files' headers, else ``packaged`` (the packaged
    BMKG table)."""
    table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None
    schema = windows_schema(labels)
    root = station_dir(Path(windows), station)
    if table is None or table.num_rows == 0:
        if root.exists():
            shutil.rmtree(root)
        return {"station": station, "windows": 0}
    table = table.sort_by([("start", "ascending"), ("source", "ascending")])
    start_us = table["start"].cast(pa.int64()).to_numpy()
    first = np.r_[True, start_us[1:] != start_us[:-1]]
    duplicates = int((~first).sum())
    if duplicates:
        table = table.filter(pa.array(first))
        start_us = start_us[first]
    usable = table["precursor_probability"].is_valid().to_numpy(zero_copy_only=False)
    score = table["precursor_probability"].fill_null(np.nan).to_numpy(zero_copy_only=False)
    band_db = np.stack([table[f"band_power_db_{c}"].cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
                        for c in "hdz"], axis=1)
    position, position_source = given, "stations table"
    if position is None:
        position, position_source = _header_position(table), "file header"
    if position is None:
        position, position_source = packaged, "packaged station table"
    if position is None:
        position_source = "unknown (local time taken as UTC)"
    longitude = None if position is None else position[1]
    window_s = (table["end"].cast(pa.int64()).to_numpy() - start_us) / 1e6
    local_band = np.array([local_time_band(_dt(s), w, longitude, rules.baseline.local_time_bands)
                           for s, w in zip(start_us, window_s)], dtype=np.int64)
    p, n_kept, n_days = rolling_p_values(start_us, usable, score, band_db, local_band, rules)
    judged = ~np.isnan(p)
    alarm = np.where(judged, p <= rules.baseline.false_alarm_rate, False)
    n = table.num_rows
    columns = {name: table[name] for name in schema.names if name in table.column_names}
    columns.update({
        "latitude": pa.array([None if position is None else position[0]] * n, pa.float64()),
        "longitude": pa.array([longitude] * n, pa.float64()),
        "background_p_value": pa.array(p, pa.float64(), mask=~judged),
        "alarm": pa.array(alarm, pa.bool_(), mask=~judged),
        "baseline_windows": pa.array(n_kept, pa.int32()),
        "baseline_days": pa.array(n_days, pa.int16()),
    })
    out = pa.table([columns[name] for name in schema.names], schema=schema)
    years = pc.year(out["start"]).to_numpy(zero_copy_only=False)
    written = []
    for year in np.unique(years):
        path = root / f"year={int(year)}" / "part-0.parquet"
        write_parquet(out.filter(pa.array(years == year)), path)
        written.append(int(year))
    if root.exists():
        for old in root.glob("year=*"):
            if old.name.removeprefix("year=") not in {str(y) for y in written}:
                shutil.rmtree(old, ignore_errors=True)
    return {"station": station, "windows": n, "analysed": int(usable.sum()), "judged": int(judged.sum()),
            "without_baseline": int((usable & ~judged).sum()), "alarms": int(alarm[judged].sum()),
            "duplicates_dropped": duplicates, "years": written, "position": position,
            "position_source": position_source}


def _header_position(table: pa.Table) -> tuple[float, float] | None:
    lat = table["header_latitude"].drop_null().to_numpy() if "header_latitude" in table.column_names else []
    lon = table["header_longitude"].drop_null().to_numpy() if "header_longitude" in table.column_names else []
    if len(lat) == 0 or len(lon) == 0:
        return None
    return float(np.median(lat)), float(np.median(lon))


def _dt(us: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(us) / 1e6, tz=timezone.utc)


__all__ = ["RollingRules", "judge_station", "rolling_p_values", "station_dir", "station_fingerprint"]
