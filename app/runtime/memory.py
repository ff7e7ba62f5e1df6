"""Keeping the heap small: fewer malloc arenas, and giving memory back after loading and after a burst.

glibc's malloc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core), so
after a burst of large decodes the process stays near its peak, with free pages spread over every
arena of the service's threads (event loop, decoders, inference, the runtime's pool). The service
caps the arenas at start (``PRECURSOR_MALLOC_ARENAS``, 2 by default: on a 2-core machine memory 5 s after
16 clients fell by about 80 MB at the same throughput; ``MALLOC_ARENA_MAX`` in the environment does the
same for any process), and ``malloc_trim(0)`` returns the free pages of every arena to the system:
after the models are loaded and whenever the inference queue empties, at most once per ``interval_s``.
Elsewhere than glibc both do nothing (and say so once in the log).

A serving process also leaves out what it never runs (:func:`leave_out_gpu_compiler`, called as the ``app``
package is imported, before torch or timm).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import sys
import time
from functools import lru_cache

logger = logging.getLogger(__name__)


def leave_out_gpu_compiler() -> bool:
    """Keep Triton out of this process: True if it was kept out, False if something had imported it already.

    The CUDA wheels of torch install Triton (a compiler of GPU kernels), and ``import timm`` reaches it through
    torchvision.ops -> torch._dynamo -> torch._inductor: about 75 MB resident in every process that serves a
    model (its 70 MB shared library, mostly), measured on torch 2.14.1. The service runs models on the CPU
    (ONNX Runtime or eager torch) and compiles nothing, so it marks the package as absent; torch then takes
    Triton as not installed, as it does on its CPU wheels (exporting to ONNX works the same)."""
    if "triton" in sys.modules:
        return sys.modules["triton"] is None
    sys.modules["triton"] = None  # an import of it raises ImportError; find_spec says it is not there
    return True


M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit (glibc's malloc.h)


def _libc_function(name: str):
    library = ctypes.util.find_library("c")
    if not library:
        return None
    try:
        return getattr(ctypes.CDLL(library), name, None)  # CDLL calls release the GIL
    except OSError:
        return None


@lru_cache(maxsize=1)
def _malloc_trim():
    return _libc_function("malloc_trim")


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; False where the C library has no mallopt."""
    mallopt = _libc_function("mallopt")
    if mallopt is None or not mallopt(M_ARENA_MAX, arenas):
        logger.info("could not cap malloc arenas (no glibc mallopt here): the C library decides how many to keep")
        return False
    return True


def trim_heap() -> None:
    """Return free heap pages to the system now (nothing where malloc_trim is missing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class HeapTrimmer:
    """:func:`trim_heap` when the inference queue empties, at most once per ``interval_s``."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._last = float("-inf")
        self._pending = False
        if not self.available:
            logger.info("malloc_trim is not available here: freed memory is returned as the C library decides")

    @property
    def available(self) -> bool:
        return _malloc_trim() is not None

    def soon(self) -> None:
        """Trim in a worker thread (called from the event loop when the queue empties): at once, or, if the
        last trim was under ``interval_s`` ago, when the interval is over; one trim pending at a time."""
        if not self.available or self._pending:
            return
        self._pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, self._last + self.interval_s - time.monotonic()), self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last = time.monotonic()
        loop.run_in_executor(None, trim_heap).add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        self._pending = False
        if not future.cancelled() and future.exception() is not None:
            logger.error("malloc_trim failed: %s", future.exception())
