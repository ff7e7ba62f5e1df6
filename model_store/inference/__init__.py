"""Running a stored model in a plain Python process: the engine and the backends that run the network.

:class:`InferenceEngine` turns normalised inputs into served predictions (probabilities, labels, alarm,
bearing, Grad-CAM on request); :func:`select_backend` chooses ONNX Runtime or eager torch per model, checked
against eager fp32; :class:`InferenceConfig` says how (threads, path, cache). Nothing here knows about HTTP:
the service (``app``), the archive runner and the benchmarks use it alike. :func:`load_engine` is the short way.
"""

from __future__ import annotations

from pathlib import Path

from ..registry import ModelRegistry
from .backends import InferencePath, select_backend
from .config import InferenceConfig
from .engine import BatchResult, ExplainRequest, InferenceEngine, Prediction


def load_engine(store: str | Path, ref: str | None = None, config: InferenceConfig | None = None
                ) -> tuple[InferenceEngine, InferencePath]:
    """The engine of model ``ref`` (``name[:version]``; the store's default if None) and how it runs."""
    loaded = ModelRegistry(Path(store)).load(ref)
    backend, path = select_backend(loaded, config or InferenceConfig())
    return InferenceEngine(loaded, backend), path


__all__ = ["BatchResult", "ExplainRequest", "InferenceConfig", "InferenceEngine", "InferencePath", "Prediction",
           "load_engine", "select_backend"]
