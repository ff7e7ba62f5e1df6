"""The archive's Parquet tables: their columns, and how they are written (atomically) and read.

``scores/``: one part per input file, written by its task (the model's view of each window, no judgement).
``windows/``: THE dataset, Hive-partitioned ``station=CODE/year=YYYY/part-0.parquet``, one row per window with
the rolling baseline's judgement (written by the second pass, :mod:`archive.rolling`). The partition columns
(``station`` string, ``year`` int16) are in the paths, not in the files; read the dataset with
:func:`read_windows` or ``pyarrow.dataset.dataset(OUT / "windows", partitioning=PARTITIONING)``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

UTC_US = pa.timestamp("us", tz="UTC")
PARTITIONING_SCHEMA = pa.schema([("station", pa.string()), ("year", pa.int16())])
PARTITIONING = ds.partitioning(PARTITIONING_SCHEMA, flavor="hive")

# what each window is, as the task writes it (the per-file parts), before the class probabilities
WINDOW_FIELDS = [
    pa.field("station", pa.string()),
    pa.field("start", UTC_US),
    pa.field("end", UTC_US),
    pa.field("window_index", pa.int32()),  # within its file
    pa.field("valid_fraction", pa.float64()),
    pa.field("longest_gap_s", pa.float64()),
    pa.field("skipped_reason", pa.string()),  # null: analysed
    pa.field("model_name", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("precursor_probability", pa.float64()),  # P(event)
    pa.field("model_alarm", pa.bool_()),  # P(event) >= the model's own operating point
    pa.field("magnitude_label", pa.string()),
    pa.field("azimuth_label", pa.string()),
    pa.field("bearing_deg", pa.float64()),
    pa.field("bearing_uncertainty_deg", pa.float64()),
    pa.field("band_amplitude_nt", pa.float64()),  # model_store.network_pipeline.received_amplitude_nt
    pa.field("band_power_db_h", pa.float32()),  # emission-band power the baseline's outlier rule reads
    pa.field("band_power_db_d", pa.float32()),
    pa.field("band_power_db_z", pa.float32()),
    pa.field("header_latitude", pa.float64()),  # the file's own station position, if it gives one
    pa.field("header_longitude", pa.float64()),
    pa.field("source", pa.string()),  # the input's URL
    pa.field("source_format", pa.string()),
]
# what the rolling pass adds (and the position it used)
JUDGED_FIELDS = [
    pa.field("latitude", pa.float64()),
    pa.field("longitude", pa.float64()),
    pa.field("background_p_value", pa.float64()),  # null: skipped, or no baseline yet
    pa.field("alarm", pa.bool_()),  # background_p_value <= the false-alarm rate; null where there is no p-value
    pa.field("baseline_windows", pa.int32()),  # windows of the rolling baseline this window was judged against
    pa.field("baseline_days", pa.int16()),  # distinct days among them
]


def probability_column(task: str, label: str) -> str:
    return "p_" + re.sub(r"[^a-z0-9]+", "_", f"{task}_{label}".lower()).strip("_")


def probability_fields(labels: Mapping[str, Sequence[str]]) -> list[pa.Field]:
    return [pa.field(probability_column(task, label), pa.float32()) for task in labels for label in labels[task]]


def scores_schema(labels: Mapping[str, Sequence[str]]) -> pa.Schema:
    return pa.schema(WINDOW_FIELDS + probability_fields(labels))


def windows_schema(labels: Mapping[str, Sequence[str]]) -> pa.Schema:
    """The dataset's file schema (``station`` and ``year`` come from the partition path)."""
    keep = [f for f in WINDOW_FIELDS if f.name not in ("station", "header_latitude", "header_longitude")]
    return pa.schema(keep[:1] + keep[1:] + JUDGED_FIELDS + probability_fields(labels))


# ---------------------------------------------------------------------------- writing and reading
def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def write_parquet(table: pa.Table, path: str | os.PathLike, durable: bool = True) -> None:
    """Write ``table`` to a temporary file beside ``path``, fsync, and rename it over ``path``: a reader (or a
    rerun after a crash) sees the old file or the new one, never half of one. The temporary name starts with a
    dot, which Parquet dataset readers skip."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        pq.write_table(table, tmp, compression="zstd")
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_windows(out: str | os.PathLike, columns: Sequence[str] | None = None,
                 filter: Any = None) -> pa.Table:
    """The windows dataset of an archive (every station and year), or an empty table if there is none."""
    root = Path(out) / "windows"
    if not root.is_dir() or not any(root.glob("station=*/year=*/*.parquet")):
        return pa.table({})
    dataset = ds.dataset(root, format="parquet", partitioning=PARTITIONING)
    return dataset.to_table(columns=list(columns) if columns is not None else None, filter=filter)


__all__ = ["JUDGED_FIELDS", "PARTITIONING", "PARTITIONING_SCHEMA", "UTC_US", "WINDOW_FIELDS", "probability_column",
           "read_windows", "scores_schema", "windows_schema", "write_parquet"]
