"""The served model's life: loading -> ready (loaded, verified, warmed up) or failed (with the reason)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from model_store import LoadedModel, ModelRegistry, ModelStoreError

from .batching import Batcher, inference_executor
from .engine import BatchResult, ExplainRequest, InferenceEngine
from .errors import public_message
from .metrics import Metrics
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class ModelState:
    status: str = "loading"  # loading | ready | failed
    reason: str = "model is loading"
    loaded: LoadedModel | None = None
    batcher: Batcher | None = None
    load_seconds: float | None = None
    _task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.status == "ready"


def _load_and_warm(settings: Settings) -> tuple[LoadedModel, InferenceEngine]:
    torch.set_num_threads(settings.torch_threads)
    registry = ModelRegistry(settings.model_store)
    loaded = registry.load(settings.model)
    engine = InferenceEngine(loaded)
    spec = loaded.input_spec
    warm = np.zeros((1, spec.in_chans, *spec.image_size), dtype=np.float32)
    engine.run(warm, [ExplainRequest()])  # exercises forward and the Grad-CAM path once
    return loaded, engine


async def start_model(state: ModelState, settings: Settings, metrics: Metrics) -> None:
    """Load on the inference thread (not the event loop), so liveness probes are answered meanwhile."""
    t0 = time.perf_counter()
    executor = inference_executor()
    try:
        loaded, engine = await asyncio.get_running_loop().run_in_executor(executor, _load_and_warm, settings)
    except ModelStoreError as exc:
        executor.shutdown(wait=False)
        reason = public_message(str(exc), settings.model_store)
        state.status, state.reason = "failed", f"no model could be loaded: {reason}"
        logger.error("model store %s: no model could be loaded: %s", settings.model_store, exc)
        return
    except Exception as exc:  # keep the process alive and not ready, and say why
        executor.shutdown(wait=False)
        state.status, state.reason = "failed", f"model failed to load ({type(exc).__name__}); the server log has details"
        logger.exception("loading the model failed")
        return

    def on_batch(result: BatchResult, size: int) -> None:
        metrics.observe_stage("inference", result.inference_s)
        if result.explain_s:
            metrics.observe_stage("explain", result.explain_s)
        metrics.batch_size.observe(size)

    batcher = Batcher(engine, settings.max_batch_size, settings.batch_wait_ms / 1000.0, on_batch, executor)
    batcher.start()
    state.loaded, state.batcher = loaded, batcher
    state.load_seconds = time.perf_counter() - t0
    metrics.model_load_seconds.set(state.load_seconds)
    metrics.model_ready.set(1)
    state.status, state.reason = "ready", "model loaded and warmed up"
    m = loaded.manifest
    logger.info("serving %s (trained on %s) after %.2f s", m.ref, m.trained_on, state.load_seconds)


async def stop_model(state: ModelState) -> None:
    if state._task and not state._task.done():
        state._task.cancel()
    if state.batcher:
        await state.batcher.stop()
