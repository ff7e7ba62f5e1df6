"""Helpers of the archive tests: what a run wrote, and row-by-row comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from archive.tables import read_windows


def windows(out: Path) -> pa.Table:
    """The windows dataset, sorted by station and start."""
    return read_windows(out).sort_by([("station", "ascending"), ("start", "ascending")])


def assert_same_rows(a: pa.Table, b: pa.Table) -> None:
    """Equal rows: every column equal, floats to 1e-6 (the model's threads may differ between processes)."""
    assert a.num_rows == b.num_rows and a.num_rows > 0
    assert set(a.column_names) == set(b.column_names)
    for name in a.column_names:
        x, y = a[name], b[name]
        if pa.types.is_floating(x.type):
            xa = x.to_numpy(zero_copy_only=False).astype(float)
            ya = y.to_numpy(zero_copy_only=False).astype(float)
            assert np.allclose(xa, ya, rtol=1e-6, atol=1e-7, equal_nan=True), name
        else:
            assert x.to_pylist() == y.to_pylist(), name


LABELS = {"magnitude": ["Large", "Normal"], "azimuth": ["N", "S", "Normal"]}


def write_station_rows(out: Path, station: str, position: tuple[float, float], rows: list[dict],
                       labels: dict = LABELS) -> None:
    """Rows of one station written as the windows dataset holds them (columns not given are null; the year
    partition from each row's start)."""
    from collections import defaultdict

    from archive.tables import windows_schema, write_parquet

    schema = windows_schema(labels)
    by_year: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        full = {name: None for name in schema.names}
        full.update(model_name="test", model_version="1", latitude=position[0], longitude=position[1],
                    valid_fraction=1.0, longest_gap_s=0.0)
        full.update(r)
        by_year[r["start"].year].append(full)
    for year, part in by_year.items():
        table = pa.Table.from_pylist(part, schema=schema)
        write_parquet(table, out / "windows" / f"station={station}" / f"year={year}" / "part-0.parquet")
