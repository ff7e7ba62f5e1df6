"""Loading the served models: each from the store, on the path chosen for it (ONNX Runtime or eager torch,
checked against eager fp32), warmed up on both the plain and the Grad-CAM path, and (optionally) its largest
batch measured on this machine; runs on the first inference thread, so its torch settings are the ones that
count."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch

from model_store import LoadedModel, ModelRegistry, ModelStoreError
from model_store.inference.backends import InferencePath, select_backend
from model_store.inference.engine import ExplainRequest, InferenceEngine
from model_store.inference.onnx_cache import OnnxCache

from ..errors import public_message
from ..settings import Settings
from .affinity import ThreadPlacement
from .batching import fastest_batch_size
from .memory import trim_heap

logger = logging.getLogger(__name__)


def _model_refs(settings: Settings, registry: ModelRegistry) -> tuple[str, list[str]]:
    """(default reference, every reference to load with the default first)."""
    default = settings.model or registry.default_ref()
    others = settings.models if settings.models is not None else registry.names()
    default_name = default.partition(":")[0]
    return default, [default] + [r for r in others if r.partition(":")[0] != default_name]


Loaded = tuple[LoadedModel, InferenceEngine, InferencePath]


def load_and_warm(settings: Settings, placement: ThreadPlacement | None) -> tuple[str, dict[str, Loaded], dict[str, str]]:
    torch.set_num_threads(settings.torch_threads)
    registry = ModelRegistry(settings.model_store)
    default, refs = _model_refs(settings, registry)
    cache = OnnxCache(settings.onnx_cache_path) if settings.inference_path == "onnx" else None
    loaded_models: dict[str, Loaded] = {}
    failures: dict[str, str] = {}
    for i, ref in enumerate(refs):
        try:
            loaded = registry.load(ref)
        except ModelStoreError as exc:
            if i == 0:
                raise
            failures[ref] = public_message(str(exc), settings.model_store)
            logger.error("model %s is not served: %s", ref, exc)
            continue
        config = settings.inference_config(placement.runtime_affinities() if placement and placement.workers else None)
        backend, path = select_backend(loaded, config, cache)
        loaded_models[loaded.manifest.ref] = (loaded, InferenceEngine(loaded, backend), path)
        if i == 0:
            default = loaded.manifest.ref
    if loaded_models and all(path.path == "onnxruntime" for _, _, path in loaded_models.values()):
        # ONNX Runtime's threads run the network; torch only composes the outputs and runs Grad-CAM's last
        # stages, and a second pool of torch threads beside ONNX Runtime's spinning ones slows both (on 2 cores
        # the whole /predict batch and Grad-CAM run 1.4-2x faster with one torch thread; docs/benchmarks.md)
        torch.set_num_threads(1)
    threads = torch.get_num_threads()  # this thread runs every batch, so its setting is the one that counts
    for ref, (loaded, engine, path) in loaded_models.items():
        spec = loaded.input_spec
        shape = (spec.in_chans, *spec.image_size)
        warm = np.zeros(shape, dtype=np.float32)
        engine.run([warm], [None])  # exercises the forward path once ...
        engine.run([warm], [ExplainRequest()])  # ... and the Grad-CAM path
        max_batch, rates = settings.max_batch_size, None
        if settings.batch_size_autotune and max_batch > 1:
            max_batch, rates = fastest_batch_size(engine, shape, settings.max_batch_size)
            logger.info("%s: batches of at most %d (images/s by batch size: %s)", ref, max_batch,
                        ", ".join(f"{b}: {r:.0f}" for b, r in rates.items()))
        loaded_models[ref] = (loaded, engine, replace(path, torch_threads=threads, max_batch=max_batch,
                                                      batch_images_per_s=rates))
    trim_heap()  # loading, checking and exporting left tens of MB of free pages
    return default, loaded_models, failures
