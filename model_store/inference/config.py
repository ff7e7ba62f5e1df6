"""How a model is run: which path, how many threads, where exported graphs are cached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .onnx_cache import default_cache_dir


@dataclass(frozen=True)
class InferenceConfig:
    """``path``: ``onnx`` runs the network in ONNX Runtime (exported once, cached in ``onnx_cache_dir``, checked
    against eager fp32 at load; eager torch, saying why, if that fails or onnxruntime is missing); ``eager``:
    torch only. ``threads``: intra-op threads of one forward pass. ``spin_wait``/``spin_us``: how long an idle
    ONNX Runtime thread spins for more work (``spin_us`` -1 = ONNX Runtime's own count). ``channels_last``: the
    eager model's memory format. ``intra_op_affinities``: ONNX Runtime's ``session.intra_op_thread_affinities``
    (which CPUs its worker threads run on), or None to leave them to the kernel."""

    path: Literal["onnx", "eager"] = "onnx"
    threads: int = 2
    spin_wait: bool = True
    spin_us: int = 50
    channels_last: bool = False
    onnx_cache_dir: Path | None = None
    intra_op_affinities: str | None = None

    @property
    def cache_dir(self) -> Path:
        return self.onnx_cache_dir or default_cache_dir()
