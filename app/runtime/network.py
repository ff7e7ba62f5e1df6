"""The network models a replica uses: for each served station model, the newest stored network model fitted on
its features (:mod:`model_store.network_store`), read once and kept; or why there is none."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from model_store.checkpoint import Manifest
from model_store.network import NetworkConfig
from model_store.network_pipeline import CHAIN_NETWORK_CONFIG
from model_store.network_store import NetworkArtifact, NetworkStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetworkChoice:
    """The network model for one station model (None, with the reason, when there is none) and the settings."""

    artifact: NetworkArtifact | None
    reason: str

    @property
    def config(self) -> NetworkConfig:
        """The thresholds the network model was fitted under, else the chain's."""
        return self.artifact.network_config if self.artifact is not None else CHAIN_NETWORK_CONFIG


class NetworkModels:
    def __init__(self, store: NetworkStore) -> None:
        self.store = store
        self._chosen: dict[str, NetworkChoice] = {}
        self._lock = threading.Lock()

    def for_model(self, manifest: Manifest) -> NetworkChoice:
        """The network model fitted on ``manifest``'s features (read at first use, then kept)."""
        key = f"{manifest.ref}@{manifest.weights_sha256}"
        with self._lock:
            chosen = self._chosen.get(key)
        if chosen is not None:
            return chosen
        artifact, why = self.store.for_station_model(manifest)
        chosen = NetworkChoice(artifact, "" if artifact else f"no network model for {manifest.ref}: {why}; "
                               "sources are still fixed, with the bearings' own kappa, but magnitude is null")
        if artifact is not None:
            logger.info("network model %s (fitted on %s) serves %s", artifact.version,
                        artifact.station_model.get("ref"), manifest.ref)
        else:
            logger.warning("%s", chosen.reason)
        with self._lock:
            self._chosen[key] = chosen
        return chosen
