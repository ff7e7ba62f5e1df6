"""What runs the network: ONNX Runtime (the fast path) or eager torch, chosen per model at load.

Both give the engine the same two things: the raw head outputs of a batch (no gradients), and the
feature map Grad-CAM explains, from which the engine runs the rest of the network in torch with
gradients. With ``InferenceConfig.path = "onnx"`` (the default) each model's graph (head outputs and the
Grad-CAM feature map in one pass, :mod:`model_store.onnx_export`) is exported once (cached,
:mod:`.onnx_cache`) and run by ONNX Runtime; ``channels_last`` puts the torch parts in channels-last memory
format.

Whatever is chosen is checked at load against the eager fp32 model on a probe batch: its served
probabilities must agree within ``VERIFY_TOLERANCE`` (the service promises 1e-4), else the model is
served eager and says why. A model always serves: when onnxruntime is not installed, or the export, the
runtime or the check fails, it runs eager torch and the returned :class:`InferencePath` says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import version as package_version
from importlib.util import find_spec
from typing import Protocol

import numpy as np
import torch

from ..checkpoint import LoadedModel
from ..onnx_export import FEATURES_OUTPUT, FORWARD_OUTPUTS, INPUT_NAME
from ..outputs import served_log_probs
from ..spectrogram import normalize
from .config import InferenceConfig
from .onnx_cache import OnnxCache, cache_key

logger = logging.getLogger(__name__)

VERIFY_TOLERANCE = 1e-5  # largest difference in served probabilities from eager fp32 accepted at load
PROBE_BATCH = 2  # also keeps the batch dimension of an export dynamic


@dataclass(frozen=True)
class InferencePath:
    """Which path runs a model, and why (the service adds how it serves it and reports it in /v2/models/{name})."""

    path: str  # "onnxruntime" or "eager"
    channels_last: bool  # the eager model in channels-last memory format
    reason: str
    max_difference: float | None = None  # from eager fp32 on the load-time probe
    # set by a server once every model is loaded (app.runtime.state):
    torch_threads: int | None = None  # torch's intra-op threads
    workers: int | None = None  # batches that may run at once, on as many inference threads
    max_batch: int | None = None  # most images per forward pass (measured or the setting)
    batch_images_per_s: dict[int, float] | None = None  # the load-time measurement that chose max_batch
    thread_placement: str | None = None  # which CPUs the threads of a pass run on, or why they are not pinned

    def to_dict(self) -> dict[str, object]:
        rates = self.batch_images_per_s
        return {"path": self.path, "channels_last": self.channels_last, "reason": self.reason,
                "max_probability_difference_from_eager": self.max_difference, "torch_threads": self.torch_threads,
                "inference_workers": self.workers,
                "max_batch_size": self.max_batch,
                "batch_images_per_s": None if rates is None else {str(k): round(v, 1) for k, v in rates.items()},
                "thread_placement": self.thread_placement}


class Backend(Protocol):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def cam_features(self, x: torch.Tensor) -> torch.Tensor: ...


class EagerBackend:
    def __init__(self, model: torch.nn.Module, channels_last: bool) -> None:
        self.model = model
        self.channels_last = channels_last
        if channels_last:
            model.to(memory_format=torch.channels_last)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.model(self._input(x))

    def cam_features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model.cam_features(self._input(x))


class OnnxBackend:
    """The network in ONNX Runtime (one graph, :mod:`model_store.onnx_export`); the torch model still runs
    the rest after the Grad-CAM stage."""

    def __init__(self, session: object) -> None:
        self._session = session

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = self._session.run(list(FORWARD_OUTPUTS), {INPUT_NAME: x.numpy()})
        return {name: torch.from_numpy(out) for name, out in zip(FORWARD_OUTPUTS, outs)}

    def cam_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._session.run([FEATURES_OUTPUT], {INPUT_NAME: x.numpy()})[0])


def probe(loaded: LoadedModel) -> torch.Tensor:
    """A fixed batch of plausible inputs: uniform images in [0, 1], normalised as the service does."""
    spec = loaded.input_spec
    images = np.random.default_rng(0).random((PROBE_BATCH, spec.in_chans, *spec.image_size), dtype=np.float32)
    return torch.from_numpy(np.stack([normalize(img, spec) for img in images]))


def _probabilities(raw: dict[str, torch.Tensor], loaded: LoadedModel) -> torch.Tensor:
    logp = served_log_probs(raw, loaded.manifest.calibration, loaded.model.config.azimuth_head)
    return torch.cat([v.exp() for v in logp.values()], dim=1)


def _difference(backend: Backend, loaded: LoadedModel, x: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest difference from ``reference`` in served probabilities, over both ways the engine runs."""
    direct = _probabilities(backend.forward(x), loaded)
    with torch.no_grad():
        via_cam = _probabilities(loaded.model.heads_from_cam_features(backend.cam_features(x), x), loaded)
    return max(float((direct - reference).abs().max()), float((via_cam - reference).abs().max()))


def _session(data: bytes, config: InferenceConfig):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False  # memory goes back after a burst instead of staying at its peak
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spin_wait else "0")
    if config.spin_wait and config.spin_us >= 0:  # -1: ONNX Runtime's own count of spins
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(config.spin_us))
    if config.intra_op_affinities:  # the service places its own calling threads (app.runtime.affinity)
        options.add_session_config_entry("session.intra_op_thread_affinities", config.intra_op_affinities)
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _graph(loaded: LoadedModel, x: torch.Tensor, cache: OnnxCache) -> bytes:
    from model_store.onnx_export import EXPORT_FORMAT, export_graph

    # the exporter's packages are imported only to export: a cached graph needs their versions, not their
    # code (onnx and onnxscript hold about 30 MB of the serving process otherwise)
    m = loaded.manifest
    key = cache_key(weights=m.weights_sha256, architecture=m.architecture.to_dict(),
                    shape=list(x.shape[1:]), torch=torch.__version__, onnx=package_version("onnx"),
                    onnxscript=package_version("onnxscript"), export=EXPORT_FORMAT)
    data = cache.get(key)
    if data is None:
        logger.info("exporting %s to ONNX (once; cached in %s)", m.ref, cache.root)
        data = export_graph(loaded.model, x)
        cache.put(key, data)
    return data


def onnx_backend(loaded: LoadedModel, config: InferenceConfig, cache: OnnxCache, x: torch.Tensor) -> OnnxBackend | str:
    """The ONNX Runtime backend (not yet checked against eager), or why there is none; ``x`` is a probe batch."""
    missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if find_spec(name) is None]
    if missing:  # onnx and onnxscript export the graph (imported only on a cache miss), onnxruntime runs it
        return f"{missing[0]} is not installed (pip install '.[fast]')"
    try:
        return OnnxBackend(_session(_graph(loaded, x, cache), config))
    except Exception as exc:  # any failure of export or runtime: serve eager, log the details, say so
        logger.exception("ONNX path for %s failed; serving it eager", loaded.manifest.ref)
        return f"the ONNX export or runtime failed ({type(exc).__name__}); the server log has details"


def select_backend(loaded: LoadedModel, config: InferenceConfig,
                   cache: OnnxCache | None = None) -> tuple[Backend, InferencePath]:
    """The backend that serves ``loaded`` and why; its answers are checked against eager fp32 first."""
    model = loaded.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = probe(loaded)
    with torch.no_grad():
        reference = _probabilities(model(x), loaded)

    why_eager = "the inference path asked for is eager"
    if config.path == "onnx":
        fast = onnx_backend(loaded, config, cache or OnnxCache(config.cache_dir), x)
        if isinstance(fast, OnnxBackend):
            diff = _difference(fast, loaded, x, reference)
            if diff <= VERIFY_TOLERANCE:
                return fast, InferencePath("onnxruntime", False,
                                           "ONNX Runtime, checked against eager fp32 at load", diff)
            logger.error("ONNX Runtime's probabilities for %s differ from eager by %.2g; serving it eager",
                         loaded.manifest.ref, diff)
            why_eager = f"ONNX Runtime's probabilities differed from eager fp32 by {diff:.2g} at load"
        else:
            why_eager = fast
            logger.warning("serving %s eager: %s", loaded.manifest.ref, fast)

    eager = EagerBackend(model, config.channels_last)
    diff = _difference(eager, loaded, x, reference)
    if diff > VERIFY_TOLERANCE:  # channels-last changed the answers: go back to the plain layout
        model.to(memory_format=torch.contiguous_format)
        logger.error("channels-last changed %s's probabilities by %.2g; serving it contiguous", loaded.manifest.ref, diff)
        return EagerBackend(model, False), InferencePath("eager", False, why_eager + "; channels-last changed answers")
    return eager, InferencePath("eager", config.channels_last, why_eager, diff)
