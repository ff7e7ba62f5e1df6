"""Checkpoints: safetensors weights plus a JSON manifest that carries everything needed to use them.

A checkpoint directory holds ``manifest.json`` and ``model.safetensors``. It is written into a
temporary sibling directory and renamed into place, so a reader never sees half a checkpoint.
Loading checks the manifest, verifies the weights' sha256 and loads them with safetensors: nothing
is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .errors import CheckpointError
from .model import ModelConfig, PrecursorNet
from .spectrogram import InputSpec

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "model.safetensors"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
TRAINED_ON_VALUES = ("simulated", "real", "mixed", "untrained")


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    architecture: ModelConfig
    input_spec: InputSpec
    provenance: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    weights_sha256: str = ""
    weights_bytes: int = 0
    format_version: int = FORMAT_VERSION

    @property
    def trained_on(self) -> str:
        return str(self.provenance.get("trained_on", "unknown"))

    @property
    def labels(self) -> dict[str, tuple[str, ...]]:
        return self.architecture.tasks

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "architecture": self.architecture.to_dict(),
            "labels": {k: list(v) for k, v in self.labels.items()},
            "input_spec": self.input_spec.to_dict(),
            "provenance": self.provenance,
            "training": self.training,
            "metrics": self.metrics,
            "weights": {"file": WEIGHTS_FILE, "sha256": self.weights_sha256, "bytes": self.weights_bytes},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            if d["format_version"] != FORMAT_VERSION:
                raise CheckpointError(
                    f"manifest format_version {d['format_version']} is not supported (this code reads {FORMAT_VERSION})"
                )
            return cls(
                name=str(d["name"]),
                version=str(d["version"]),
                architecture=ModelConfig.from_dict(d["architecture"]),
                input_spec=InputSpec.from_dict(d["input_spec"]),
                provenance=dict(d["provenance"]),
                training=dict(d.get("training", {})),
                metrics=dict(d.get("metrics", {})),
                created_at=str(d.get("created_at", "")),
                weights_sha256=str(d["weights"]["sha256"]),
                weights_bytes=int(d["weights"]["bytes"]),
                format_version=int(d["format_version"]),
            )
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"manifest is incomplete or malformed: {exc!r}") from exc


@dataclass
class LoadedModel:
    model: PrecursorNet
    manifest: Manifest
    path: Path

    @property
    def input_spec(self) -> InputSpec:
        return self.manifest.input_spec


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_checkpoint(
    model: PrecursorNet,
    directory: str | os.PathLike,
    *,
    name: str,
    version: str,
    input_spec: InputSpec,
    provenance: dict[str, Any],
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Manifest:
    """Write ``model`` to ``directory`` (which must not exist yet) atomically and return its manifest."""
    if provenance.get("trained_on") not in TRAINED_ON_VALUES:
        raise CheckpointError(f"provenance.trained_on must be one of {TRAINED_ON_VALUES}")
    if model.config.in_chans != input_spec.in_chans:
        raise CheckpointError("model in_chans does not match the input spec's channel count")
    target = Path(directory)
    if target.exists():
        raise CheckpointError(f"{target} already exists; checkpoints are never overwritten")
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    weights = save_safetensors(state)
    manifest = Manifest(
        name=name,
        version=str(version),
        architecture=model.config,
        input_spec=input_spec,
        provenance=provenance,
        training=training or {},
        metrics=metrics or {},
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        weights_sha256=_sha256(weights),
        weights_bytes=len(weights),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a store is read by the service's own user
        _write_file(tmp / WEIGHTS_FILE, weights)
        _write_file(tmp / MANIFEST_FILE, json.dumps(manifest.to_dict(), indent=2, sort_keys=True).encode())
        os.rename(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"could not write checkpoint to {target}: {exc}") from exc
    return manifest


def read_manifest(directory: str | os.PathLike) -> Manifest:
    path = Path(directory) / MANIFEST_FILE
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise CheckpointError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return Manifest.from_dict(data)


def load_checkpoint(directory: str | os.PathLike) -> LoadedModel:
    """Load and verify a checkpoint; the model is returned in eval mode on the CPU."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        weights = (directory / WEIGHTS_FILE).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{directory / WEIGHTS_FILE} is not readable: {exc}") from exc
    if len(weights) != manifest.weights_bytes or _sha256(weights) != manifest.weights_sha256:
        raise CheckpointError(
            f"{directory / WEIGHTS_FILE} does not match its manifest (size or sha256 differ): damaged or replaced"
        )
    try:
        state = load_safetensors(weights)
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"{directory / WEIGHTS_FILE} is not a valid safetensors file: {exc}") from exc
    try:
        model = PrecursorNet(manifest.architecture)
    except Exception as exc:  # timm raises RuntimeError/ValueError/KeyError for unknown names or args
        raise CheckpointError(f"cannot build architecture {manifest.architecture.backbone!r}: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the manifest's architecture: {exc}") from exc
    model.eval()
    return LoadedModel(model=model, manifest=manifest, path=directory)
