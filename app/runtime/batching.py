"""Dynamic micro-batching: requests queue single images; inference threads run them in batches.

All model work goes through a few dedicated inference threads (:class:`InferenceThreads`), so concurrent
requests never run more forward passes at once than there are threads, and images arriving together share
a forward pass: whatever queued while the threads were busy forms the next batch (``wait_s`` can hold a
lone request a little longer to collect company). With two threads (the default when every model is on
the ONNX path) a batch runs while the next one is formed and started: ONNX Runtime shares its intra-op
threads between the passes that run at once, so a lone batch still gets every thread, and under load the
cores are kept busy by two passes instead of waiting at the barriers inside one (convnext_atto at 224x224
on 2 cores: 36-49 -> 43-60 requests/s at 16 clients, docs/benchmarks.md). Eager torch cannot share its
thread pool that way (two passes each with a pool of ``torch_threads`` oversubscribe the cores, and torch's
OpenMP pool belongs to the thread that first runs a parallel region), so a service with an eager model uses
one thread: the one that loaded the models. Images are stacked into a batch on the inference thread, not
on the event loop. Work whose request's deadline has passed is dropped when a batch is started. Where the
service places its threads (:mod:`app.runtime.affinity`), a batch that runs alone runs on its own CPU, apart from ONNX
Runtime's workers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from model_store.inference.engine import BatchResult, ExplainRequest, InferenceEngine, Prediction

from .admission import Deadline
from .affinity import CallerPlacement

logger = logging.getLogger(__name__)
T = TypeVar("T")


TUNE_REPEATS = 3  # timed runs per candidate batch size (after one untimed)
TUNE_TIE = 0.03  # a smaller batch within this share of the best rate wins: same throughput, less latency


def batch_candidates(max_batch: int) -> list[int]:
    """1, 2, 4, ... up to ``max_batch`` (and ``max_batch`` itself)."""
    sizes, b = [], 1
    while b < max_batch:
        sizes.append(b)
        b *= 2
    return [*sizes, max_batch]


def fastest_batch_size(engine: InferenceEngine, shape: tuple[int, ...], max_batch: int) -> tuple[int, dict[int, float]]:
    """The batch size (up to ``max_batch``) that predicts the most images per second on this machine, and the
    measured rates. Larger is not always faster on a small CPU: the activations of a big batch leave the
    caches (convnext_atto at 224x224 on 2 cores: about 78 images/s at 4, 60-68 at 16). Runs on the first
    inference thread at load, alone, on zero images, the whole prediction path (forward and composing outputs)."""
    rates: dict[int, float] = {}
    for size in batch_candidates(max_batch):
        images = [np.zeros(shape, dtype=np.float32)] * size
        engine.run(images, [None] * size)
        times = []
        for _ in range(TUNE_REPEATS):
            t0 = time.perf_counter()
            engine.run(images, [None] * size)
            times.append(time.perf_counter() - t0)
        rates[size] = size / sorted(times)[len(times) // 2]
    return choose_batch_size(rates), rates


def choose_batch_size(rates: dict[int, float]) -> int:
    """The smallest batch size whose images/s is within ``TUNE_TIE`` of the best measured."""
    best = max(rates.values())
    return min(size for size, rate in rates.items() if rate >= (1 - TUNE_TIE) * best)


class InferenceThreads:
    """The threads that run forward passes, each its own single-thread executor, handed out one batch at a
    time and shared by every model's batcher. The first loads the models; :meth:`use` sets how many serve."""

    def __init__(self, count: int) -> None:
        self.executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference{i}") for i in range(count)]
        self.active = 1
        self._free: asyncio.Queue[ThreadPoolExecutor] | None = None
        self.placement: CallerPlacement | None = None  # where a batch's thread runs (app.runtime.affinity), if pinned

    @property
    def loader(self) -> ThreadPoolExecutor:
        return self.executors[0]

    def use(self, count: int) -> None:
        """Serve with the first ``count`` threads (at least one, at most as many as were made); the rest end."""
        self.active = max(1, min(count, len(self.executors)))
        for executor in self.executors[self.active:]:
            executor.shutdown(wait=False)
        self._free = asyncio.Queue()
        for executor in self.executors[:self.active]:
            self._free.put_nowait(executor)

    @property
    def running(self) -> int:
        """Batches running now (their threads are out of the free queue)."""
        return self.active - (self._free.qsize() if self._free is not None else self.active)

    def run(self, alone: bool, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the calling inference thread, placed first (:mod:`app.runtime.affinity`) as running alone or not."""
        if self.placement is not None:
            self.placement.place(alone)
        return fn(*args)

    async def acquire(self) -> ThreadPoolExecutor:
        if self._free is None:
            self.use(1)
        return await self._free.get()

    def release(self, executor: ThreadPoolExecutor) -> None:
        self._free.put_nowait(executor)

    def shutdown(self, wait: bool = True) -> None:
        for executor in self.executors:
            executor.shutdown(wait=wait, cancel_futures=True)


@dataclass
class _Item:
    image: np.ndarray
    explain: ExplainRequest | None
    future: asyncio.Future
    deadline: Deadline | None


class Batcher:
    def __init__(
        self,
        engine: InferenceEngine,
        max_batch: int,
        wait_s: float,
        on_batch: Callable[[BatchResult, int], None] | None = None,
        threads: InferenceThreads | None = None,
        on_expired: Callable[[Deadline], Exception] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.on_batch = on_batch
        self.on_expired = on_expired or (lambda d: TimeoutError(f"dropped after its {d.budget_s:g} s deadline"))
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._threads = threads or InferenceThreads(1)
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="batcher")

    async def stop(self, shutdown_threads: bool = True) -> None:
        """Stop collecting batches (those already running finish); shut the inference threads down too unless
        other batchers share them."""
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if shutdown_threads:
            self._threads.shutdown()

    async def submit(
        self, images: list[np.ndarray], explain: list[ExplainRequest | None], deadline: Deadline | None = None
    ) -> list[Prediction]:
        """Predict each of ``images`` (C, H, W), normalised model inputs; work still queued after ``deadline``
        is dropped (the exception ``on_expired`` makes is raised here)."""
        loop = asyncio.get_running_loop()
        items = [_Item(img, exp, loop.create_future(), deadline) for img, exp in zip(images, explain)]
        for item in items:
            self._queue.put_nowait(item)
        try:
            return list(await asyncio.gather(*(item.future for item in items)))
        except BaseException:
            for item in items:  # the rest of this request is not worth running; one error is enough
                if not item.future.done():
                    item.future.cancel()
                elif not item.future.cancelled():
                    item.future.exception()  # retrieved, so asyncio does not log it as lost
            raise

    async def _collect(self) -> list[_Item]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.wait_s
        if self.wait_s <= 0:
            return batch  # the worker adds what else is queued once a thread is free
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    def _top_up(self, batch: list[_Item]) -> list[_Item]:
        """``batch`` with whatever is queued now (up to ``max_batch``), less the work no longer worth running."""
        while len(batch) < self.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return self._live(batch)

    def _live(self, batch: list[_Item]) -> list[_Item]:
        """The items still worth running; those past their deadline are answered with the error."""
        now = time.monotonic()
        live = []
        for item in batch:
            if item.future.done():  # cancelled: its request is gone
                continue
            if item.deadline is not None and item.deadline.expired(now):
                item.future.set_exception(self.on_expired(item.deadline))
                continue
            live.append(item)
        return live

    async def _worker(self) -> None:
        while True:
            batch = await self._collect()
            executor = await self._threads.acquire()
            batch = self._top_up(batch)  # with what queued while no thread was free
            if not batch:
                self._threads.release(executor)
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch, executor))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            del batch, task  # hold no images or results while waiting for the next batch

    async def _run(self, batch: list[_Item], executor: ThreadPoolExecutor) -> None:
        images = [item.image for item in batch]
        explain = [item.explain for item in batch]
        try:
            alone = self._threads.running == 1  # this batch's thread is out of the free queue already
            result = await asyncio.get_running_loop().run_in_executor(
                executor, self._threads.run, alone, self.engine.run, images, explain)
        except Exception as exc:  # surfaced to every waiting request, then logged once
            logger.exception("inference failed for a batch of %d", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            self._threads.release(executor)
        if self.on_batch:
            self.on_batch(result, len(batch))
        for item, pred in zip(batch, result.predictions):
            if not item.future.done():
                item.future.set_result(pred)


class RequestEnded(Exception):
    """The request whose pipeline this is has ended (an error, a refusal, the client gone): stop working for it."""


def thread_predictor(batcher: Batcher, loop: asyncio.AbstractEventLoop, deadline: Deadline | None = None,
                     ended: threading.Event | None = None) -> Callable[[list[np.ndarray], list[ExplainRequest | None]],
                                                                      list[Prediction]]:
    """A predict function for code running in a worker thread (the window pipeline, :mod:`model_store.pipeline`):
    each call is submitted to ``batcher`` on the event loop ``loop`` and waited for; once ``ended`` is set it
    raises :class:`RequestEnded` instead."""

    def predict(images: list[np.ndarray], explain: list[ExplainRequest | None]) -> list[Prediction]:
        if ended is not None and ended.is_set():
            raise RequestEnded()
        return asyncio.run_coroutine_threadsafe(batcher.submit(images, explain, deadline), loop).result()

    return predict
