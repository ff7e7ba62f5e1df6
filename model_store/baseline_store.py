"""The station store: ``ROOT/<CODE>/<version>/{baseline.json, baseline.sha256}``, beside the model store.

The same rules as checkpoints: a version is written once, into a temporary directory renamed into place (a
reader sees a whole version or none), its JSON's sha256 is written beside it and checked on every read, and
nothing is ever edited in place or unpickled. The latest version of a station is the one used. Deleting a
station's baselines renames its directory out of the way before removing it, so a reader never sees half a
deletion. Several replicas may share one store (a volume): each reads the directory as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from .baselines import BaselineError, StationBaseline
from .fileio import save_next_version

BASELINE_FILE = "baseline.json"
HASH_FILE = "baseline.sha256"
CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{1,16}$")


def normal_code(code: str) -> str:
    """A station code as the store keeps it (upper case), or a BaselineError saying what is wrong with it."""
    value = code.strip().upper()
    if not CODE_PATTERN.match(value):
        raise BaselineError(f"station code {code[:20]!r} must be 1-16 letters, digits, - or _")
    return value


@dataclass(frozen=True)
class StoredBaseline:
    code: str
    version: str
    path: Path


class BaselineStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -------------------------------------------------------------- lookup
    def stations(self) -> list[str]:
        """Codes with at least one stored baseline."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and CODE_PATTERN.match(p.name) and self.versions(p.name))

    def versions(self, code: str) -> list[str]:
        base = self.root / normal_code(code)
        if not base.is_dir():
            return []
        return sorted((p.name for p in base.iterdir() if p.name.isdigit() and (p / HASH_FILE).is_file()), key=int)

    def stored(self, code: str, version: str) -> StoredBaseline:
        return StoredBaseline(normal_code(code), version, self.root / normal_code(code) / version)

    def latest(self, code: str) -> StoredBaseline | None:
        versions = self.versions(code)
        return self.stored(code, versions[-1]) if versions else None

    def load(self, stored: StoredBaseline) -> StationBaseline:
        """The baseline of a stored version, checked against its sha256 (a BaselineError if it does not match)."""
        data = (stored.path / BASELINE_FILE).read_bytes()
        expected = (stored.path / HASH_FILE).read_text().strip()
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise BaselineError(f"baseline {stored.code}:{stored.version} does not match its sha256 (damaged)")
        try:
            return StationBaseline.from_dict(json.loads(data), version=stored.version, sha256=digest)
        except (ValueError, TypeError) as exc:
            raise BaselineError(f"baseline {stored.code}:{stored.version} cannot be read: {exc}") from exc

    def load_latest(self, code: str) -> StationBaseline | None:
        stored = self.latest(code)
        return None if stored is None else self.load(stored)

    # -------------------------------------------------------------- writing
    def save(self, baseline: StationBaseline) -> StationBaseline:
        """Store ``baseline`` as the station's next version; returns it with its version and sha256."""
        code = normal_code(baseline.station)
        base = self.root / code
        data = (json.dumps(baseline.to_dict(), sort_keys=True) + "\n").encode()
        digest = hashlib.sha256(data).hexdigest()
        version = save_next_version(base, {BASELINE_FILE: data, HASH_FILE: (digest + "\n").encode()})
        baseline.version, baseline.sha256 = version, digest
        return baseline

    def delete(self, code: str) -> list[str]:
        """Remove every stored baseline of a station; the versions removed (empty if it had none)."""
        code = normal_code(code)
        versions = self.versions(code)
        base = self.root / code
        if not base.exists():
            return []
        gone = self.root / f".deleted-{code}-{uuid.uuid4().hex}"
        os.rename(base, gone)
        shutil.rmtree(gone, ignore_errors=True)
        return versions


__all__ = ["BASELINE_FILE", "BaselineStore", "StoredBaseline", "normal_code"]
