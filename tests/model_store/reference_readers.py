"""Line-by-line reference parsers (Python float/fromisoformat per cell, as the readers were before numpy).

The numpy readers must give identical arrays; these are slow and only for tests.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from model_store.fileio import parse_utc

IAGA_MISSING = (99999.0, 88888.0)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig")


def _grid(times: list[datetime], rows: list[list[float]]) -> tuple[datetime, float, np.ndarray]:
    offsets = np.array([(t - times[0]).total_seconds() for t in times])
    interval = float(np.min(np.diff(offsets)))
    index = np.rint(offsets / interval).astype(int)
    grid = np.full((index[-1] + 1, len(rows[0])), np.nan)
    grid[index] = rows
    return times[0], interval, grid


def iaga2002(path: Path) -> dict:
    lines = _text(path).splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("DATE"))
    code = next(line.split()[2] for line in lines[:k] if line.strip().upper().startswith("IAGA CODE"))
    elements = [c[len(code):] for c in lines[k].rstrip("| ").split()[3:]]
    times, rows = [], []
    for line in lines[k + 1 :]:
        parts = line.split()
        if parts:
            times.append(datetime.fromisoformat(f"{parts[0]}T{parts[1]}").replace(tzinfo=timezone.utc))
            rows.append([math.nan if any(abs(float(v) - m) < 0.5 for m in IAGA_MISSING) else float(v) for v in parts[3:]])
    start, interval, grid = _grid(times, rows)
    c = dict(zip(elements, grid.T))
    if "D" in c:
        h, d = c["H"], c["H"] * np.sin(c["D"] * (math.pi / (180.0 * 60.0)))
    elif "X" in c:
        h, d = np.hypot(c["X"], c["Y"]), c["Y"]
    else:
        h, d = c["H"], c["E"]
    return {"start": start, "interval": interval, "h": h, "d": d, "z": c["Z"]}


def csv_file(path: Path) -> dict:
    body = [line for line in _text(path).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(body)))
    cols = [c.strip().lower() for c in next(reader)]
    times, rows = [], []
    for row in reader:
        times.append(parse_utc(row[cols.index("time")]))
        rows.append([float(row[cols.index(c)]) if row[cols.index(c)].strip() else math.nan for c in "hdz"])
    start, interval, grid = _grid(times, rows)
    return {"start": start, "interval": interval, "h": grid[:, 0], "d": grid[:, 1], "z": grid[:, 2]}
