"""Giving memory back after a burst.

glibc's malloc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core), so
after a burst of large decodes the process stays near its peak. ``malloc_trim(0)`` returns the free
pages of every arena to the system; the service calls it when the inference queue empties, at most once
per ``interval_s``. Elsewhere than glibc it does nothing (and says so once in the log).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time

logger = logging.getLogger(__name__)


def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)  # CDLL calls release the GIL
    except OSError:
        return None


class HeapTrimmer:
    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._trim = _malloc_trim()
        self._last = float("-inf")
        self._pending = False
        if self._trim is None:
            logger.info("malloc_trim is not available here: freed memory is returned as the C library decides")

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim_now(self) -> None:
        if self._trim is not None:
            self._trim(0)

    def soon(self) -> None:
        """Trim in a worker thread (called from the event loop when the queue empties): at once, or, if the
        last trim was under ``interval_s`` ago, when the interval is over; one trim pending at a time."""
        if self._trim is None or self._pending:
            return
        self._pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, self._last + self.interval_s - time.monotonic()), self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last = time.monotonic()
        loop.run_in_executor(None, self.trim_now).add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        self._pending = False
        if not future.cancelled() and future.exception() is not None:
            logger.error("malloc_trim failed: %s", future.exception())
