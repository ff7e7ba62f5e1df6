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
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .background import Background
from .direction import physics_config
from .errors import CheckpointError
from .input_spec import InputSpec
from .model import ModelConfig, PrecursorNet
from .outputs import Calibration

# 2: factorised heads (detection, magnitude and azimuth given an event), calibration, representations
FORMAT_VERSION = 2
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
    calibration: Calibration = field(default_factory=Calibration)
    created_at: str = ""
    weights_sha256: str = ""
    weights_bytes: int = 0
    format_version: int = FORMAT_VERSION
    # a station-relative input's background at a station without a baseline: the training stations' median
    background_reference: dict[str, Any] | None = None

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
            "calibration": self.calibration.to_dict(),
            "weights": {"file": WEIGHTS_FILE, "sha256": self.weights_sha256, "bytes": self.weights_bytes},
            **({"background_reference": self.background_reference} if self.background_reference else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """Build a manifest from its JSON; anything missing, mistyped or inconsistent is a CheckpointError."""
        try:
            if d["format_version"] != FORMAT_VERSION:
                raise CheckpointError(
                    f"manifest format_version {d['format_version']!r} is not supported (this code reads {FORMAT_VERSION})"
                )
            architecture, input_spec = _object(d, "architecture"), _object(d, "input_spec")
            weights = _object(d, "weights")
            _check_fields(ModelConfig, architecture, "architecture")
            _check_tasks(architecture.get("tasks"))
            _check_fields(InputSpec, input_spec, "input_spec")
            if not isinstance(d["name"], str) or not isinstance(d["version"], (str, int)):
                raise CheckpointError("manifest name and version must be strings")
            if not isinstance(weights["sha256"], str) or not isinstance(weights["bytes"], int):
                raise CheckpointError("manifest weights must hold a sha256 string and a byte count")
            manifest = cls(
                name=d["name"],
                version=str(d["version"]),
                architecture=ModelConfig.from_dict(architecture),
                input_spec=InputSpec.from_dict(input_spec),
                provenance=_object(d, "provenance"),
                training=_object(d, "training", optional=True),
                metrics=_object(d, "metrics", optional=True),
                calibration=Calibration.from_dict(_object(d, "calibration", optional=True)),
                created_at=str(d.get("created_at", "")),
                weights_sha256=weights["sha256"],
                weights_bytes=weights["bytes"],
                format_version=int(d["format_version"]),
                background_reference=_object(d, "background_reference", optional=True) or None,
            )
            arch, spec = manifest.architecture, manifest.input_spec
            if spec.background == "station":
                _check_background(manifest.background_reference, spec)
            if arch.in_chans != spec.in_chans:
                raise CheckpointError("manifest architecture.in_chans does not match its input_spec's channels")
            # only the bearing head carries the direction finder's settings (a sectors head has none, whatever
            # its input), and they must be the ones its input_spec implies
            if arch.physics != (physics_config(spec) if arch.azimuth_head == "bearing" else None):
                raise CheckpointError("manifest architecture.physics does not match its input_spec")
        except CheckpointError:
            raise
        except KeyError as exc:
            raise CheckpointError(f"manifest is incomplete: {exc.args[0]!r} is missing") from exc
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise CheckpointError(f"manifest is malformed: {exc}") from exc
        return manifest


# JSON types accepted for a config field, by the type of its default value.
_JSON_TYPES: dict[type, tuple[type, ...]] = {
    bool: (bool,), int: (int,), float: (int, float), str: (str,), tuple: (list,), dict: (dict,)
}


def _object(d: dict[str, Any], key: str, optional: bool = False) -> dict[str, Any]:
    value = d.get(key, {}) if optional else d[key]
    if not isinstance(value, dict):
        raise CheckpointError(f"manifest {key} must be a JSON object, not {type(value).__name__}")
    return dict(value)


def _accepts(default: Any, value: Any) -> bool:
    allowed = _JSON_TYPES.get(type(default))
    if allowed is None:
        return True
    if isinstance(value, bool) and bool not in allowed:
        return False
    if not isinstance(value, allowed):
        return False
    if isinstance(default, tuple) and default:
        return all(_accepts(default[0], item) for item in value)
    return True


def _check_fields(config: type, data: dict[str, Any], where: str) -> None:
    """Each known field of ``config`` in ``data`` must have the JSON type of its default (unknown ones are
    refused by ``from_dict``), so a damaged manifest fails here rather than deep inside the model."""
    for f in fields(config):
        if f.name not in data or f.name == "tasks":
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        if not _accepts(default, data[f.name]):
            raise CheckpointError(
                f"manifest {where}.{f.name} must be like {json.dumps(default)}, not {json.dumps(data[f.name])[:80]}"
            )


def _check_tasks(tasks: Any) -> None:
    """Tasks: a non-empty object of task name -> list of at least two distinct class names."""
    if tasks is None:
        return  # the architecture's default tasks apply
    if not isinstance(tasks, dict) or not tasks:
        raise CheckpointError("manifest architecture.tasks must be a non-empty object of task -> class names")
    for task, classes in tasks.items():
        if (
            not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes)
            or not all(isinstance(c, str) and c for c in classes)
        ):
            raise CheckpointError(
                f"manifest architecture.tasks.{task} must list at least two distinct class names"
            )


@dataclass
class LoadedModel:
    model: PrecursorNet
    manifest: Manifest
    path: Path

    @property
    def input_spec(self) -> InputSpec:
        return self.manifest.input_spec

    def reference_background(self, longitude: float | None) -> Background | None:
        """A station-relative model's background for a station without a baseline (None for other models)."""
        if self.input_spec.background != "station":
            return None
        return Background.from_reference(self.manifest.background_reference, self.input_spec, longitude)


def _check_background(reference: dict[str, Any] | None, spec: InputSpec) -> None:
    """A station-relative model must carry its reference background, shaped for its input."""
    if not reference:
        raise CheckpointError("a station-relative model's manifest must carry its background_reference")
    try:
        Background.from_reference(reference, spec, None)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"manifest background_reference does not fit its input_spec: {exc}") from exc


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
    calibration: Calibration | None = None,
    background_reference: dict[str, Any] | None = None,
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
        calibration=calibration or Calibration(),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        weights_sha256=_sha256(weights),
        weights_bytes=len(weights),
        background_reference=background_reference,
    )
    if input_spec.background == "station":
        _check_background(background_reference, input_spec)
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
