"""A cache of exported ONNX graphs, so a model is exported once, not at every start.

Entries are keyed by what determines a graph: the weights' sha256, the export format, the input shape and the
torch and export versions. The cache is trusted only as far as this process can tell it wrote it:

* the directory must belong to this user and be writable by no one else (a shared, world-writable
  directory could hold someone else's file under our name); otherwise caching is off, with a warning;
* each entry is a graph and a record beside it naming its key and the graph's sha256 and size; the graph
  is read once, checked against the record and handed to the runtime as those same bytes;
* writes go to a temporary file in the directory, are flushed to disk and renamed into place, the record
  last, so a reader never sees half an entry.

And whatever comes out of the cache is still checked against the eager model before it is served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"precursor-onnx-{os.geteuid()}"


def cache_key(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _private_dir(path: Path) -> str | None:
    """None if ``path`` is a directory of ours that only we may write to, else why not."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.geteuid():
        return "it belongs to another user"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "others may write to it"
    return None


def _own_file(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


class OnnxCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problem: str | None = None
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            self.problem = f"cannot create it ({exc.strerror})"
        else:
            self.problem = _private_dir(root)
        if self.problem:
            logger.warning("ONNX cache %s is not used: %s; graphs are exported at every start", root, self.problem)

    @property
    def usable(self) -> bool:
        return self.problem is None

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.onnx", self.root / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        """The cached graph for ``key``, or None when there is none that passes every check."""
        if not self.usable:
            return None
        graph_path, record_path = self._paths(key)
        if not (_own_file(graph_path) and _own_file(record_path)):
            return None
        try:
            record = json.loads(record_path.read_text())
            data = graph_path.read_bytes()
        except (OSError, ValueError) as exc:
            logger.warning("ONNX cache entry %s is unreadable (%s); exporting again", key, exc)
            return None
        if not isinstance(record, dict) or record.get("key") != key or record.get("bytes") != len(data) \
                or record.get("sha256") != hashlib.sha256(data).hexdigest():
            logger.warning("ONNX cache entry %s does not match its record; exporting again", key)
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        if not self.usable:
            return
        graph_path, record_path = self._paths(key)
        record = {"key": key, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        try:
            self._write_atomically(graph_path, data)
            self._write_atomically(record_path, json.dumps(record).encode())
        except OSError as exc:  # a cache that cannot be written only costs an export at the next start
            logger.warning("could not write ONNX cache entry %s: %s", key, exc)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
