"""The network stage's fitted parts, stored like checkpoints: ``<model store>/_network/<version>/{network.json,
network.sha256}``.

A *network model* is what the network stage learns from a simulated world: the magnitude model (a
calibrated multinomial logistic regression on the source strength and the number of stations, see
:class:`model_store.network.MagnitudeModel`) and the bearing calibration
(:class:`model_store.network.BearingCalibration`), with the network settings it was fitted under, how it
was fitted, and its evaluation. Its features come from one station model (the bearings, kappas and the
received amplitudes read off that model's windows), so it is tied to that model: its ``name:version``,
its weights' sha256 and its input description's fingerprint. The service uses a network model only with
the station model it was fitted on (:meth:`NetworkArtifact.fits`).

The rules are the checkpoints' and baselines': a version is written once into a temporary directory
renamed into place (a reader sees a whole version or none), its JSON's sha256 is written beside it and
checked on every read, nothing is edited in place or unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .checkpoint import Manifest
from .errors import ModelStoreError
from .fileio import save_next_version
from .network import BearingCalibration, MagnitudeModel, NetworkConfig

FORMAT_VERSION = 1
NETWORK_FILE = "network.json"
HASH_FILE = "network.sha256"
MAX_BYTES = 1024 * 1024
NETWORK_DIR = "_network"  # inside a model store: not a model name (names start with a letter or digit)
PACKAGED_NETWORK_STORE = Path(__file__).resolve().parent / "models" / NETWORK_DIR


def network_store_of(model_store: str | os.PathLike) -> Path:
    """Where a model store keeps its network models: ``<model store>/_network``, beside the station models they
    are tied to (the registry does not list it: it is not a model name)."""
    return Path(model_store) / NETWORK_DIR


class NetworkModelError(ModelStoreError):
    """A stored network model that cannot be used (damaged, unreadable, of another format)."""


@dataclass(frozen=True)
class NetworkArtifact:
    magnitude: MagnitudeModel
    bearing_calibration: BearingCalibration
    station_model: dict[str, str]  # ref (name:version), weights_sha256, input_fingerprint, calibration_sha256
    amplitude_estimator: str
    network_config: NetworkConfig
    fit: dict[str, Any] = field(default_factory=dict)  # world, days, windows, cross-validated figures
    evaluation: dict[str, Any] = field(default_factory=dict)  # headline figures of network-eval, if run
    reference_models: dict[str, Any] = field(default_factory=dict)  # the ceiling's and count-only baseline's fits
    created_at: str = ""
    version: str | None = None
    sha256: str | None = None
    format_version: int = FORMAT_VERSION

    def fits(self, manifest: Manifest) -> bool:
        """Whether this network model was fitted on the features of this station model: the same weights, input
        description and calibration (which shapes the bearings' kappa and the alarms)."""
        return station_model_identity(manifest, with_ref=False).items() <= self.station_model.items()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version, "kind": "network_model", "created_at": self.created_at,
            "station_model": dict(self.station_model), "amplitude_estimator": self.amplitude_estimator,
            "network_config": self.network_config.to_dict(), "bearing_calibration": self.bearing_calibration.to_dict(),
            "magnitude_model": self.magnitude.to_dict(), "fit": self.fit, "evaluation": self.evaluation,
            "reference_models": self.reference_models,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: str | None = None, sha256: str | None = None) -> NetworkArtifact:
        if not isinstance(data, dict) or data.get("kind") != "network_model":
            raise NetworkModelError("not a network model (its JSON lacks kind: network_model)")
        if data.get("format_version") != FORMAT_VERSION:
            raise NetworkModelError(f"network model format {data.get('format_version')!r} is not {FORMAT_VERSION}")
        station = data.get("station_model")
        if not isinstance(station, dict) or not {"ref", "weights_sha256", "input_fingerprint",
                                                 "calibration_sha256"} <= set(station):
            raise NetworkModelError("a network model must name its station model (ref, weights_sha256, "
                                    "input_fingerprint, calibration_sha256)")
        try:
            return cls(
                magnitude=MagnitudeModel.from_dict(data["magnitude_model"]),
                bearing_calibration=BearingCalibration.from_dict(data.get("bearing_calibration", {})),
                station_model={k: str(v) for k, v in station.items()},
                amplitude_estimator=str(data["amplitude_estimator"]),
                network_config=NetworkConfig.from_dict(data.get("network_config", {})),
                fit=dict(data.get("fit") or {}), evaluation=dict(data.get("evaluation") or {}),
                reference_models=dict(data.get("reference_models") or {}),
                created_at=str(data.get("created_at", "")), version=version, sha256=sha256)
        except (KeyError, TypeError, ValueError) as exc:
            raise NetworkModelError(f"network model cannot be read: {exc}") from exc

    def summary(self) -> dict[str, Any]:
        """What ``GET /v2/network`` shows: everything but the coefficients of the reference models."""
        m = self.magnitude
        return {
            "version": self.version, "sha256": self.sha256, "created_at": self.created_at,
            "station_model": dict(self.station_model), "amplitude_estimator": self.amplitude_estimator,
            "bearing_calibration": self.bearing_calibration.to_dict(),
            "magnitude_model": {"classes": list(m.classes), "features": list(m.features),
                                "temperature": m.temperature, "balanced_accuracy": m.balanced_accuracy,
                                "ceiling_balanced_accuracy": m.ceiling_balanced_accuracy, "fitted_on": m.fitted_on,
                                "statement": m.statement},
            "fit": self.fit, "evaluation": self.evaluation,
        }


def station_model_identity(manifest: Manifest, with_ref: bool = True) -> dict[str, str]:
    """What ties a network model to the station model whose features it was fitted on."""
    calibration = json.dumps(manifest.calibration.to_dict(), sort_keys=True).encode()
    out = {"weights_sha256": manifest.weights_sha256, "input_fingerprint": manifest.input_spec.fingerprint,
           "calibration_sha256": hashlib.sha256(calibration).hexdigest()}
    return {"ref": manifest.ref, **out} if with_ref else out


class NetworkStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if p.name.isdigit() and (p / HASH_FILE).is_file()), key=int)

    def load(self, version: str) -> NetworkArtifact:
        """A stored version, checked against its sha256 (a NetworkModelError if it does not match)."""
        path = self.root / version
        try:
            if (path / NETWORK_FILE).stat().st_size > MAX_BYTES:
                raise NetworkModelError(f"network model {version} is larger than {MAX_BYTES} bytes")
            data = (path / NETWORK_FILE).read_bytes()
            expected = (path / HASH_FILE).read_text().strip()
        except OSError as exc:
            raise NetworkModelError(f"network model {version} cannot be read: {exc.strerror or exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise NetworkModelError(f"network model {version} does not match its sha256 (damaged)")
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise NetworkModelError(f"network model {version} is not JSON: {exc}") from exc
        return NetworkArtifact.from_dict(parsed, version=version, sha256=digest)

    def for_station_model(self, manifest: Manifest) -> tuple[NetworkArtifact | None, str]:
        """The newest readable version fitted on this station model, or None and why there is none."""
        versions = self.versions()
        if not versions:
            return None, f"the network model store ({self.root.name}) holds no network model"
        problems = []
        for version in reversed(versions):
            try:
                artifact = self.load(version)
            except NetworkModelError as exc:
                problems.append(str(exc))
                continue
            if artifact.fits(manifest):
                return artifact, ""
        why = (f"none of the {len(versions)} stored network models was fitted on the features of {manifest.ref} "
               "(its weights, input description and calibration)")
        return None, why + (f"; unreadable: {'; '.join(problems)}" if problems else "")

    def save(self, artifact: NetworkArtifact) -> NetworkArtifact:
        """Store ``artifact`` as the next version; returns it with its version and sha256."""
        data = (json.dumps(artifact.to_dict(), indent=1, sort_keys=True) + "\n").encode()
        digest = hashlib.sha256(data).hexdigest()
        version = save_next_version(self.root, {NETWORK_FILE: data, HASH_FILE: (digest + "\n").encode()})
        return replace(artifact, version=version, sha256=digest)


__all__ = [
    "FORMAT_VERSION",
    "HASH_FILE",
    "NETWORK_FILE",
    "PACKAGED_NETWORK_STORE",
    "NetworkArtifact",
    "NetworkModelError",
    "NetworkStore",
    "NETWORK_DIR",
    "network_store_of",
    "station_model_identity",
]
