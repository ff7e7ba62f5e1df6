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
