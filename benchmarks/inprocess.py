"""In-process references: the bare forward pass of a model on each path, and Grad-CAM's cost against it.

The paths are built as the service builds them (:mod:`model_store.inference.backends`): eager fp32, eager
channels-last, and ONNX Runtime with the service's session options, so a served figure can be set against the fastest
forward of the same model on the same machine.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from model_store import LoadedModel
from model_store.inference import InferenceConfig
from model_store.inference.backends import Backend, EagerBackend, onnx_backend, probe
from model_store.inference.engine import ExplainRequest, InferenceEngine
from model_store.inference.onnx_cache import OnnxCache

logger = logging.getLogger(__name__)


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def backends(loaded: LoadedModel, config: InferenceConfig) -> dict[str, Backend]:
    """Every path the service can run ``loaded`` on here (ONNX Runtime only if the extra is installed)."""
    model = loaded.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    out: dict[str, Backend] = {
        "eager": EagerBackend(model, channels_last=False),
        "eager_channels_last": EagerBackend(copy.deepcopy(model), channels_last=True),
    }
    fast = onnx_backend(loaded, config, OnnxCache(config.cache_dir), probe(loaded))
    if isinstance(fast, str):
        logger.warning("no ONNX Runtime figures for %s: %s", loaded.manifest.ref, fast)
    else:
        out["onnxruntime"] = fast
    return out


def _inputs(loaded: LoadedModel, n: int) -> torch.Tensor:
    spec = loaded.input_spec
    rng = np.random.default_rng(1)
    return torch.from_numpy(rng.random((n, spec.in_chans, *spec.image_size), dtype=np.float32) * 2 - 1)


def forward_times(loaded: LoadedModel, config: InferenceConfig, batch: int = 16) -> dict[str, dict[str, float]]:
    """Per path: median seconds of a batch-1 forward, and images per second at ``batch``."""
    x1, xb = _inputs(loaded, 1), _inputs(loaded, batch)
    out = {}
    for name, backend in backends(loaded, config).items():
        b1 = median_time(lambda: backend.forward(x1), 50)
        bb = median_time(lambda: backend.forward(xb), 10)
        out[name] = {"batch1_ms": 1000 * b1, f"batch{batch}_images_per_s": batch / bb}
    return out


def grad_cam_cost(loaded: LoadedModel, backend: Backend) -> dict[str, float]:
    """One image through the engine without and with Grad-CAM (both heads), on ``backend``."""
    engine = InferenceEngine(loaded, backend)
    x = [_inputs(loaded, 1)[0].numpy()]
    plain = median_time(lambda: engine.run(x, [None]), 30)
    explained = median_time(lambda: engine.run(x, [ExplainRequest()]), 30)
    return {"predict_ms": 1000 * plain, "explain_ms": 1000 * explained, "explain_over_predict": explained / plain}
