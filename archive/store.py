"""An archive's output folder: its layout, its lock, and the manifest that makes a rerun resume.

::

    OUT/archive.json                 what the archive is made with (model, hop, rolling rules): written once
    OUT/scores/ab/<key>.parquet      one part per input file (its task's rows, no judgement)
    OUT/windows/station=X/year=Y/    the dataset (rows judged against rolling baselines), one part per station-year
    OUT/windows/_rolling.json        per station: the fingerprint of what its part was judged from
    OUT/manifest/manifest.parquet    the manifest, compacted at the end of each run
    OUT/manifest/<run>-<n>.parquet   entries recorded during a run, a segment every few seconds
    OUT/failures.parquet             the inputs that failed, with stage and reason (from the manifest)
    OUT/summary.json                 the last run's summary (also OUT/runs/<run>.json)

**Manifest.** One entry per input file and attempt: URL, size, modification stamp, the SHA-256 of the bytes
analysed, the settings fingerprint, ``done`` or ``failed`` (with stage and reason), station, time span,
windows, the part written, worker, wall and CPU seconds, time. The state of an input is its latest entry (by ``finished_at``) over
every segment and the compacted file, so a run that dies between writing a segment and compacting loses
nothing and counts nothing twice. Segments and the compacted file are written atomically.

**What a rerun does** with an input: nothing if its latest entry is ``done`` (or ``failed``, unless
``--retry-failed``) with the same size, stamp (or checksum, with ``--checksum``) and settings fingerprint,
and its part is where the entry says; otherwise it is analysed again and its part overwritten under the same
name. A run killed before its last segment redoes at most the files of that segment: their parts are
rewritten byte for byte, never duplicated.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from model_store.fileio import atomic_write_text

from .tables import UTC_US, write_parquet

MANIFEST_SCHEMA = pa.schema([
    ("url", pa.string()), ("key", pa.string()), ("size", pa.int64()), ("modified", pa.string()),
    ("checksum", pa.string()), ("settings", pa.string()), ("status", pa.string()), ("stage", pa.string()),
    ("error", pa.string()), ("reason", pa.string()), ("station", pa.string()), ("source_format", pa.string()),
    ("first_start", UTC_US), ("last_end", UTC_US), ("windows", pa.int32()), ("analysed", pa.int32()),
    ("part", pa.string()), ("attempts", pa.int32()), ("seconds", pa.float64()), ("cpu_seconds", pa.float64()), ("worker", pa.string()),
    ("run_id", pa.string()), ("finished_at", UTC_US),
])
FAILURE_COLUMNS = ("url", "size", "modified", "checksum", "stage", "error", "reason", "attempts", "worker", "run_id",
                   "finished_at")
COMPACT = "manifest.parquet"


class ArchiveLocked(RuntimeError):
    """Another run holds the archive's lock."""


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class ArchiveDir:
    root: Path
    _lock_fd: int | None = field(default=None, repr=False)
    _segments: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    # -------------------------------------------------------------- layout
    @property
    def config_path(self) -> Path:
        return self.root / "archive.json"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def windows(self) -> Path:
        return self.root / "windows"

    @property
    def rolling_state_path(self) -> Path:
        return self.windows / "_rolling.json"

    @property
    def manifest_dir(self) -> Path:
        return self.root / "manifest"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.parquet"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    # -------------------------------------------------------------- lock
    def lock(self) -> None:
        """Hold the archive's lock for this process (released when it exits, even by a crash)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArchiveLocked(f"{self.root} is being written by another run") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -------------------------------------------------------------- config
    def read_config(self) -> dict[str, Any] | None:
        if not self.config_path.exists():
            return None
        return json.loads(self.config_path.read_text())

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_text(self.config_path, json.dumps(config, indent=1, sort_keys=True) + "\n")

    # -------------------------------------------------------------- manifest
    def _manifest_files(self) -> list[Path]:
        if not self.manifest_dir.is_dir():
            return []
        return sorted(p for p in self.manifest_dir.glob("*.parquet") if not p.name.startswith("."))

    def load_manifest(self) -> dict[str, dict[str, Any]]:
        """Each input's latest entry (URL -> entry)."""
        state: dict[str, dict[str, Any]] = {}
        for path in self._manifest_files():
            for entry in pq.read_table(path).to_pylist():
                old = state.get(entry["url"])
                if old is None or entry["finished_at"] >= old["finished_at"]:
                    state[entry["url"]] = entry
        return state

    def append(self, run_id: str, entries: Iterable[Mapping[str, Any]]) -> Path | None:
        """Record entries as a new manifest segment (atomically); None if there were none."""
        rows = [{name: e.get(name) for name in MANIFEST_SCHEMA.names} for e in entries]
        if not rows:
            return None
        self._segments += 1
        path = self.manifest_dir / f"{run_id}-{self._segments:06d}.parquet"
        write_parquet(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), path)
        return path

    def compact(self, state: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Rewrite the manifest as one file of each input's latest entry, then remove the segments it holds."""
        files = self._manifest_files()
        state = self.load_manifest() if state is None else state
        rows = [{name: e.get(name) for name in MANIFEST_SCHEMA.names} for e in state.values()]
        write_parquet(pa.Table.from_pylist(sorted(rows, key=lambda r: r["url"]), schema=MANIFEST_SCHEMA),
                      self.manifest_dir / COMPACT)
        for path in files:
            if path.name != COMPACT:
                path.unlink(missing_ok=True)

    def write_failures(self, state: Mapping[str, Mapping[str, Any]]) -> int:
        """``failures.parquet``: every input whose latest entry failed (the file is rewritten each run)."""
        rows = [{k: e.get(k) for k in FAILURE_COLUMNS} for e in state.values() if e["status"] == "failed"]
        schema = pa.schema([MANIFEST_SCHEMA.field(k) for k in FAILURE_COLUMNS])
        write_parquet(pa.Table.from_pylist(sorted(rows, key=lambda r: r["url"]), schema=schema), self.failures_path)
        return len(rows)

    # -------------------------------------------------------------- housekeeping
    def clean(self, parts: set[str] | None = None) -> dict[str, int]:
        """Remove temporary files left by killed tasks and, given ``parts`` (the parts the manifest refers to),
        the parts no entry refers to (inputs pruned from the manifest, or redone without a part)."""
        removed = {"temporary": 0, "orphan_parts": 0}
        for folder in (self.scores, self.windows, self.manifest_dir):
            if not folder.is_dir():
                continue
            for tmp in folder.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed["temporary"] += 1
        if parts is not None and self.scores.is_dir():
            for part in self.scores.glob("*/*.parquet"):
                if part.relative_to(self.root).as_posix() not in parts:
                    part.unlink(missing_ok=True)
                    removed["orphan_parts"] += 1
        return removed


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


__all__ = ["MANIFEST_SCHEMA", "ArchiveDir", "ArchiveLocked", "new_run_id", "write_json"]
