"""What an archive run reads: the station files under INPUT, and how each is told apart from its earlier self.

INPUT is a folder (every file below it, recursively), a glob (``data/**/*.gz``) or an fsspec URL of either
(``s3://bucket/lut/2023/``, ``file:///data/*.sec``; any filesystem fsspec supports and the workers can reach).
Names starting with ``.`` or ``_`` are left out (temporary and hidden files), and so is whatever an
``--exclude`` glob matches.

An input's identity is its URL (a local file's absolute path), its size and its modification stamp (a local
file's ``st_mtime_ns``; a remote store's ``mtime``, ``LastModified`` or ETag, whichever it gives). A rerun
redoes an input whose size or stamp changed (and one whose store gives no stamp at all); ``--checksum``
compares the content's SHA-256 instead (every input is read on the driver to hash it). Each task records the
SHA-256 of the bytes it analysed either way.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GLOB_CHARS = set("*?[")
STAMP_KEYS = ("mtime", "LastModified", "last_modified", "updated", "ETag", "etag", "created")


@dataclass(frozen=True)
class InputFile:
    """One station file: where it is and what it looked like when the run was planned."""

    url: str  # a local file's absolute path, or a URL with its protocol
    size: int
    modified: str  # modification stamp ("" if the store gives none)

    @property
    def key(self) -> str:
        """The name of this input's output part: a hash of its URL, so a retry or a redo overwrites one name."""
        return input_key(self.url)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def input_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


def is_url(spec: str) -> bool:
    return "://" in spec


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _excluded(url: str, exclude: Sequence[str]) -> bool:
    name = url.rsplit("/", 1)[-1]
    return _hidden(name) or any(fnmatch.fnmatch(url, p) or fnmatch.fnmatch(name, p) for p in exclude)


def _local(spec: str) -> list[InputFile]:
    root = Path(spec).expanduser()
    if root.is_dir():
        paths = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not _hidden(d))
            paths += [Path(folder) / f for f in files]
    elif GLOB_CHARS & set(spec):
        paths = [Path(p) for p in glob.glob(str(root), recursive=True)]
    elif root.is_file():
        paths = [root]
    else:
        raise FileNotFoundError(f"{spec}: no such file or folder")
    out = []
    for p in paths:
        st = p.stat()
        if p.is_file():
            out.append(InputFile(str(p.resolve()), st.st_size, str(st.st_mtime_ns)))
    return out


def _stamp(info: dict[str, Any]) -> str:
    for key in STAMP_KEYS:
        if info.get(key) not in (None, ""):
            return f"{key}={info[key]}"
    return ""


def _remote(spec: str) -> list[InputFile]:
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(spec)
    if fs.isdir(path):
        infos = fs.find(path, detail=True)
    elif GLOB_CHARS & set(path):
        infos = fs.glob(path, detail=True)
    elif fs.isfile(path):
        infos = {path: fs.info(path)}
    else:
        raise FileNotFoundError(f"{spec}: no such file or folder")
    return [InputFile(fs.unstrip_protocol(p), int(info.get("size") or 0), _stamp(info))
            for p, info in infos.items() if info.get("type", "file") == "file"]


def discover(spec: str, exclude: Sequence[str] = ()) -> list[InputFile]:
    """Every input file of ``spec`` (a folder, a glob or an fsspec URL), sorted by URL."""
    found = _remote(spec) if is_url(spec) and not spec.startswith("file://") else _local(spec.removeprefix("file://"))
    return sorted((f for f in found if not _excluded(f.url, exclude)), key=lambda f: f.url)


def read_bytes(url: str) -> bytes:
    """The whole content of an input (a local path or an fsspec URL)."""
    if is_url(url):
        import fsspec

        with fsspec.open(url, "rb") as fh:
            return fh.read()
    with open(url, "rb") as fh:
        return fh.read()


def checksum(url: str) -> str:
    return hashlib.sha256(read_bytes(url)).hexdigest()


__all__ = ["InputFile", "checksum", "discover", "input_key", "is_url", "read_bytes"]
