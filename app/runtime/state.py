"""The served models' life: loading -> ready (loaded, verified, warmed up) or failed (with the reason).

Several models can be served at once (by default every model name in the store, newest version): the
default one answers ``/analyze`` and any PNG that several models could read, and ``/predict`` picks the
model whose input layout a PNG fits (see :meth:`ModelState.candidates`). All of them run on the same
inference threads (:mod:`app.runtime.batching`), behind one bounded queue (:mod:`app.runtime.admission`).
Each model runs on the path :mod:`model_store.inference.backends` chose for it (ONNX Runtime or eager torch;
loading is :mod:`app.runtime.loading`), reported in ``/v2/models/{name}`` and ``/metrics``. The service is
ready once the default model is; a further model that fails to load is reported (``/readyz``,
``/v2/models``) and not served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from model_store import LoadedModel, ModelStoreError
from model_store.inference.backends import InferencePath
from model_store.inference.engine import BatchResult

from ..errors import public_message
from ..metrics import Metrics
from ..settings import Settings
from .admission import Admission
from .affinity import CallerPlacement, can_pin, plan_placement
from .batching import Batcher, InferenceThreads
from .errors import ModelNotServed
from .loading import load_and_warm
from .memory import HeapTrimmer

logger = logging.getLogger(__name__)


@dataclass
class ServedModel:
    loaded: LoadedModel
    batcher: Batcher
    inference: InferencePath

    @property
    def ref(self) -> str:
        return self.loaded.manifest.ref


@dataclass
class ModelState:
    admission: Admission
    status: str = "loading"  # loading | ready | failed
    reason: str = "model is loading"
    models: dict[str, ServedModel] = field(default_factory=dict)  # by reference name:version
    default_ref: str | None = None
    failures: dict[str, str] = field(default_factory=dict)  # models that were asked for and did not load
    load_seconds: float | None = None
    _task: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def for_settings(cls, settings: Settings, metrics: Metrics) -> ModelState:
        """Loading, behind the bounded queue of the settings; memory is trimmed whenever the queue empties."""
        admission = Admission(settings.max_queued_images, settings.request_deadline_s, on_idle=HeapTrimmer().soon,
                              on_refused=lambda reason: metrics.refused.labels(reason).inc())
        metrics.watch_queue(lambda: admission.held, admission.limit)
        return cls(admission)

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def default(self) -> ServedModel:
        assert self.default_ref is not None
        return self.models[self.default_ref]

    def get(self, ref: str) -> ServedModel:
        """A served model by ``name`` or ``name:version``; 404 naming the served ones otherwise."""
        name, _, version = ref.strip().partition(":")
        matches = [m for m in self.models.values()
                   if m.loaded.manifest.name == name and (not version or m.loaded.manifest.version == version)]
        if not matches:
            raise ModelNotServed(f"model {ref!r} is not served here; served: {', '.join(self.models)}")
        return matches[0]

    def candidates(self) -> list[ServedModel]:
        """Every served model, the default first: the order in which a PNG is matched to a model (the spec
        fingerprint it carries, else its exact layout, else its aspect ratio; see
        ``model_store.png.choose_input``)."""
        return [self.default] + [m for r, m in self.models.items() if r != self.default_ref]


async def start_model(state: ModelState, settings: Settings, metrics: Metrics) -> None:
    """Load on the first inference thread (not the event loop), so liveness probes are answered meanwhile."""
    t0 = time.perf_counter()
    threads = InferenceThreads(settings.inference_workers)
    placement, placed = plan_placement(settings.pin_threads, settings.torch_threads)
    try:
        default, loaded_models, failures = await asyncio.get_running_loop().run_in_executor(
            threads.loader, load_and_warm, settings, placement)
    except ModelStoreError as exc:
        threads.shutdown(wait=False)
        reason = public_message(str(exc), settings.model_store)
        state.status, state.reason = "failed", f"no model could be loaded: {reason}"
        logger.error("model store %s: no model could be loaded: %s", settings.model_store, exc)
        return
    except Exception as exc:  # keep the process alive and not ready, and say why
        threads.shutdown(wait=False)
        state.status, state.reason = "failed", f"model failed to load ({type(exc).__name__}); the server log has details"
        logger.exception("loading the model failed")
        return

    def on_batch(result: BatchResult, size: int) -> None:
        metrics.observe_stage("inference", result.inference_s)
        if result.explain_s:
            metrics.observe_stage("explain", result.explain_s)
        metrics.batch_size.observe(size)
        state.admission.observe(result.inference_s + result.explain_s, size)

    all_onnx = all(path.path == "onnxruntime" for _, _, path in loaded_models.values())
    threads.use(settings.inference_workers if all_onnx else 1)  # eager torch runs one batch at a time
    state.admission.workers = threads.active
    if placement is not None and not all_onnx:  # the ONNX sessions were made with their workers placed
        workers = ", ".join(map(str, placement.workers))
        placement, placed = None, (f"not pinned: eager torch places its own threads (ONNX Runtime's worker threads "
                                   f"stay on CPU {workers})")
    if placement is not None:
        refused = can_pin()
        if refused:
            placed = f"not pinned: {refused}"
            logger.warning("%s", placed)
        else:
            threads.placement = CallerPlacement(placement)
            logger.info("threads placed: %s", placed)
    for ref, (loaded, engine, path) in loaded_models.items():
        path = replace(path, workers=threads.active, thread_placement=placed)
        batcher = Batcher(engine, path.max_batch or settings.max_batch_size, settings.batch_wait_ms / 1000.0, on_batch, threads,
                          on_expired=state.admission.expired)
        batcher.start()
        state.models[ref] = ServedModel(loaded, batcher, path)
        metrics.inference_path.labels(ref, path.path).set(1)
    state.default_ref, state.failures = default, failures
    state.load_seconds = time.perf_counter() - t0
    metrics.model_load_seconds.set(state.load_seconds)
    metrics.model_ready.set(1)
    state.status = "ready"
    state.reason = "models loaded and warmed up: " + ", ".join(
        f"{ref} ({served.inference.path})" for ref, served in state.models.items())
    if failures:
        state.reason += "; not served: " + "; ".join(f"{r} ({why})" for r, why in failures.items())
    for ref, served in state.models.items():
        m = served.loaded.manifest
        logger.info("serving %s%s (%s input, trained on %s) on %s: %s", ref, " (default)" if ref == default else "",
                    m.input_spec.representation, m.trained_on, served.inference.path, served.inference.reason)
    logger.info("ready after %.2f s", state.load_seconds)


async def stop_model(state: ModelState) -> None:
    if state._task and not state._task.done():
        state._task.cancel()
    batchers = [served.batcher for served in state.models.values()]
    for k, batcher in enumerate(batchers):  # they share the inference threads: shut them down with the last
        await batcher.stop(shutdown_threads=k == len(batchers) - 1)
