"""A registry over a store directory: ``ROOT/<name>/<version>/{manifest.json, model.safetensors}``.

References are ``name`` (highest version) or ``name:version``. The default model is named in
``ROOT/DEFAULT`` (one line, a reference); without that file a store holding one model name uses it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import MANIFEST_FILE, LoadedModel, Manifest, load_checkpoint, read_manifest, save_checkpoint
from .errors import CheckpointError, ModelNotFoundError
from .fileio import atomic_write_text
from .input_spec import InputSpec
from .model import PrecursorNet
from .outputs import Calibration

logger = logging.getLogger(__name__)

DEFAULT_FILE = "DEFAULT"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class StoredModel:
    """One ``name/version`` directory of the store: its manifest, or why it cannot be read."""

    name: str
    version: str
    manifest: Manifest | None = None
    error: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


class ModelRegistry:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- lookup
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))

    def versions(self, name: str) -> list[str]:
        base = self.root / name
        if not NAME_PATTERN.match(name) or not base.is_dir():
            return []
        found = [p.name for p in base.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file()]
        return sorted(found, key=_version_key)

    def scan(self) -> list[StoredModel]:
        """Every stored model version, with its manifest or the reason it cannot be read."""
        out = []
        for name in self.names():
            for version in self.versions(name):
                try:
                    out.append(StoredModel(name, version, manifest=read_manifest(self.root / name / version)))
                except CheckpointError as exc:
                    out.append(StoredModel(name, version, error=str(exc)))
        return out

    def list_models(self) -> list[Manifest]:
        """Manifests of every readable stored model; unreadable ones are logged and skipped."""
        out = []
        for stored in self.scan():
            if stored.manifest is None:
                logger.warning("skipping unreadable model %s: %s", stored.ref, stored.error)
            else:
                out.append(stored.manifest)
        return out

    def default_ref(self) -> str:
        marker = self.root / DEFAULT_FILE
        if marker.is_file():
            ref = marker.read_text(encoding="utf-8").strip()
            if ref:
                return ref
        names = [n for n in self.names() if self.versions(n)]
        if len(names) == 1:
            return names[0]
        if not names:
            raise ModelNotFoundError(f"model store {self.root} holds no models")
        raise ModelNotFoundError(
            f"model store {self.root} holds several models ({', '.join(names)}) and no {DEFAULT_FILE} file"
        )

    def resolve(self, ref: str | None = None) -> Path:
        """Directory of the model ``ref`` (``name`` or ``name:version``; None for the default)."""
        ref = ref or self.default_ref()
        name, _, version = ref.partition(":")
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(f"no model named {name!r} in {self.root} (stored: {known})")
        if not version:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r} (stored: {', '.join(versions)})")
        return self.root / name / version

    def manifest(self, ref: str | None = None) -> Manifest:
        return read_manifest(self.resolve(ref))

    def load(self, ref: str | None = None) -> LoadedModel:
        return load_checkpoint(self.resolve(ref))

    # ---------------------------------------------------------------- writing
    def next_version(self, name: str) -> str:
        numeric = [int(v) for v in self.versions(name) if v.isdigit()]
        return str(max(numeric, default=0) + 1)

    def save(
        self,
        model: PrecursorNet,
        name: str,
        *,
        input_spec: InputSpec,
        provenance: dict[str, Any],
        version: str | None = None,
        training: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        calibration: Calibration | None = None,
        make_default: bool = False,
        background_reference: dict[str, Any] | None = None,
    ) -> Manifest:
        if not NAME_PATTERN.match(name):
            raise CheckpointError(f"model name {name!r} must match {NAME_PATTERN.pattern}")
        version = version or self.next_version(name)
        manifest = save_checkpoint(
            model,
            self.root / name / version,
            name=name,
            version=version,
            input_spec=input_spec,
            provenance=provenance,
            training=training,
            metrics=metrics,
            calibration=calibration,
            background_reference=background_reference,
        )
        if make_default:
            self.set_default(manifest.ref)
        return manifest

    def set_default(self, ref: str) -> None:
        self.resolve(ref)  # refuse a reference that does not exist
        atomic_write_text(self.root / DEFAULT_FILE, ref + "\n")
