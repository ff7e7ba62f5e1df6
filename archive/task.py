"""One task: one station file through the window pipeline, its rows written as one Parquet part.

:func:`analyze_files` is a pure function of its inputs (the files' bytes, the model, the settings): it reads
each file (:func:`model_store.formats.read_series`), cuts and predicts its windows with
:func:`model_store.pipeline.plan_record` and :func:`~model_store.pipeline.run_plan` (the chain ``POST /analyze``
runs), and writes the file's rows to ``OUT/scores/<k[:2]>/<k>.parquet`` with ``k`` a hash of the file's URL,
atomically (a temporary file renamed into place). A retry of the task, or a redo of a changed file, writes
the same name again: never a second copy. What it returns is the file's manifest entry, not its rows.

A file that cannot be read, names no station, or has no full window is not an error of the run: its entry
says ``failed`` with the stage and the reason, and the run goes on. So is any other exception while a file is
analysed (a bug meets one file, not the archive). Only a model that differs from the one the run was planned
with (:class:`ModelMismatch`) stops the run.

The model is loaded once per process (:func:`engine_for`, cached by model, path and threads), so a Dask worker
loads it at its first task and keeps it; the in-process loop does the same in the driver.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from model_store.errors import ModelStoreError
from model_store.formats import read_series
from model_store.network_pipeline import AMPLITUDE_ESTIMATOR, received_amplitude_nt

from .inputs import InputFile, read_bytes
from .tables import probability_column, scores_schema, write_parquet

DONE, FAILED = "done", "failed"
logger = logging.getLogger("archive")


class ModelMismatch(RuntimeError):
    """A worker loaded another model than the run was planned with (a different store or version on it)."""


@dataclass(frozen=True)
class AnalyzeSettings:
    """What a task needs besides its files. ``store`` None: the packaged store as each worker has it."""

    model_ref: str  # name:version, exact
    weights_sha256: str
    store: str | None = None
    hop_s: float | None = None  # None: the model's own hop
    inference_path: str = "onnx"
    threads: int = 1  # torch / ONNX Runtime intra-op threads per process
    chunk_size: int = 16
    amplitude_estimator: str = AMPLITUDE_ESTIMATOR  # the network's received amplitude (what its magnitude reads)
    outlier_band_hz: tuple[float, float] | None = None  # the band the baseline's outlier rule reads (None: its own)
    station: str | None = None  # for files that name no station

    def fingerprint(self) -> str:
        """What the rows depend on (not how fast they are made): model, hop, bands, default station."""
        parts = (self.model_ref, self.weights_sha256, self.hop_s, self.amplitude_estimator, self.outlier_band_hz,
                 self.station)
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- the model, once per process
_engines: dict[tuple, Any] = {}
_lock = threading.Lock()


def engine_for(settings: AnalyzeSettings) -> Any:
    """The inference engine of the settings' model in this process (loaded at the first call)."""
    import torch

    key = (settings.store, settings.model_ref, settings.inference_path, settings.threads)
    if torch.get_num_threads() != settings.threads:  # the eager path's threads are the process's
        torch.set_num_threads(settings.threads)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            from model_store import PACKAGED_STORE
            from model_store.inference import InferenceConfig, load_engine

            engine, _ = load_engine(settings.store or PACKAGED_STORE, settings.model_ref,
                                    InferenceConfig(path=settings.inference_path, threads=settings.threads))
            _engines[key] = engine
            trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
            if trim.isdigit() and int(trim) < 1 << 24:
                logger.warning("MALLOC_TRIM_THRESHOLD_=%s in this worker's environment (Dask's default) makes every "
                               "large array a fresh mapping: station files analyse about half as fast; start workers "
                               "without it (docs/archive.md)", trim)
    sha = engine.loaded.manifest.weights_sha256
    if sha != settings.weights_sha256:
        raise ModelMismatch(f"{socket.gethostname()} (pid {os.getpid()}) loaded {settings.model_ref} with weights "
                            f"{sha[:12]}, not the {settings.weights_sha256[:12]} the run was planned with: give every "
                            "worker the same model store")
    return engine


def loaded_engines() -> int:
    """How many models this process has loaded (the benchmarks and tests check it is one per worker)."""
    return len(_engines)


# ---------------------------------------------------------------------------- one file
def part_path(out: str | os.PathLike, key: str) -> Path:
    return Path(out) / "scores" / key[:2] / f"{key}.parquet"


def part_name(key: str) -> str:
    return f"scores/{key[:2]}/{key}.parquet"


@dataclass
class _Failure(Exception):
    stage: str
    reason: str
    error: str = ""


def _utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc)


def _rows(item: InputFile, settings: AnalyzeSettings, data: bytes) -> tuple[pa.Table, dict[str, Any]]:
    # imported here, not at the top: they bring torch, which a worker that only meets unreadable files (or is
    # restarted after one killed it) need not load
    from model_store.baselines import BaselineRules, window_stats
    from model_store.pipeline import plan_record, run_plan

    source = io.BytesIO(data)
    source.name = item.name
    try:
        series = read_series(source)
    except ModelStoreError as exc:
        raise _Failure("read", str(exc), type(exc).__name__) from exc
    station = (series.station or "").strip().upper() or (settings.station or "").strip().upper()
    if not station:
        raise _Failure("read", f"{item.name}: the file names no station (give --station for such files)")
    engine = engine_for(settings)
    loaded = engine.loaded
    spec, labels, manifest = loaded.input_spec, loaded.manifest.labels, loaded.manifest
    try:
        plan = plan_record(series, spec, settings.hop_s)
    except ModelStoreError as exc:
        raise _Failure("plan", f"{item.name}: {exc}", type(exc).__name__) from exc
    rules = BaselineRules() if settings.outlier_band_hz is None else BaselineRules(band_hz=settings.outlier_band_hz)
    columns: dict[str, list[Any]] = {f.name: [] for f in scores_schema(labels)}
    for chunk in run_plan(plan, spec, engine.predict, chunk_size=settings.chunk_size):
        for o in chunk:
            w, pred = o.window, o.prediction
            stats = window_stats(o, spec, None, rules)
            row: dict[str, Any] = {
                "station": station, "start": _utc(w.start), "end": _utc(w.end), "window_index": o.index,
                "valid_fraction": w.valid_fraction, "longest_gap_s": w.longest_gap_s,
                "skipped_reason": w.skipped_reason, "model_name": manifest.name, "model_version": manifest.version,
                "precursor_probability": None if pred is None else pred.precursor_probability,
                "model_alarm": None if pred is None else pred.alarm,
                "magnitude_label": None if pred is None else labels["magnitude"][pred.labels["magnitude"]],
                "azimuth_label": None if pred is None else labels["azimuth"][pred.labels["azimuth"]],
                "bearing_deg": None if pred is None else pred.bearing_deg,
                "bearing_uncertainty_deg": None if pred is None else pred.bearing_uncertainty_deg,
                "band_amplitude_nt": None if pred is None else received_amplitude_nt(o.image, spec, pred.bearing_deg),
                "band_power_db_h": None if stats is None else float(stats.band_db[0]),
                "band_power_db_d": None if stats is None else float(stats.band_db[1]),
                "band_power_db_z": None if stats is None else float(stats.band_db[2]),
                "header_latitude": series.latitude, "header_longitude": series.longitude,
                "source": item.url, "source_format": series.source_format,
            }
            for task, names in labels.items():
                probs = None if pred is None else pred.probabilities[task]
                for j, label in enumerate(names):
                    row[probability_column(task, label)] = None if probs is None else float(probs[j])
            for name, value in row.items():
                columns[name].append(value)
    table = pa.table(columns, schema=scores_schema(labels))
    info = {"station": station, "source_format": series.source_format, "first_start": min(columns["start"]),
            "last_end": max(columns["end"]), "windows": table.num_rows,
            "analysed": sum(p is not None for p in columns["precursor_probability"])}
    return table, info


def analyze_file(item: InputFile, settings: AnalyzeSettings, out: str) -> dict[str, Any]:
    """Analyse one file and write its part; its manifest entry (``status`` done or failed)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    entry: dict[str, Any] = {"url": item.url, "key": item.key, "size": item.size, "modified": item.modified,
                             "settings": settings.fingerprint(), "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        try:
            data = read_bytes(item.url)
        except OSError as exc:
            raise _Failure("open", f"{item.url}: {exc}", type(exc).__name__) from exc
        entry["checksum"] = hashlib.sha256(data).hexdigest()
        if len(data) != item.size:  # it changed since it was listed: a rerun will see another stamp and redo it
            entry["size"], entry["modified"] = len(data), ""
        table, info = _rows(item, settings, data)
        write_parquet(table, part_path(out, item.key))
        entry.update(info, status=DONE, part=part_name(item.key))
    except _Failure as f:
        entry.update(status=FAILED, stage=f.stage, reason=f.reason, error=f.error)
    except ModelMismatch:
        raise
    except Exception as exc:  # noqa: BLE001 - one file's bug is a failed file, not a failed archive
        entry.update(status=FAILED, stage="analyze", reason=f"{item.name}: {type(exc).__name__}: {exc}",
                     error=type(exc).__name__)
    entry["seconds"] = time.perf_counter() - t0
    entry["cpu_seconds"] = time.process_time() - cpu0  # the process's, all its threads
    entry["finished_at"] = datetime.now(timezone.utc)
    return entry


def analyze_files(items: Sequence[InputFile], settings: AnalyzeSettings, out: str) -> list[dict[str, Any]]:
    """A task of one or a few files: each analysed and written on its own (:func:`analyze_file`)."""
    return [analyze_file(item, settings, out) for item in items]


def noop(items: Sequence[Any]) -> list[Any]:
    """A task that does nothing: the benchmark's measure of the per-task overhead."""
    return list(items)


__all__ = ["DONE", "FAILED", "AnalyzeSettings", "ModelMismatch", "analyze_file", "analyze_files", "engine_for",
           "loaded_engines", "noop", "part_name", "part_path"]
