"""The batcher runs as many batches at once as it has inference threads, on the real model, and answers
every request with its own image's prediction."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from app.runtime.admission import Admission
from app.runtime.batching import Batcher, InferenceThreads
from model_store import ModelRegistry
from model_store.inference.engine import InferenceEngine
from model_store.spectrogram import normalize

from .conftest import CROSS_MODEL


class _CountingEngine(InferenceEngine):
    """The real engine, counting the batches that run at once; with a barrier, each batch first waits until
    ``parties`` batches run together (so the test fails by timeout if they cannot)."""

    def __init__(self, loaded, parties: int | None = None) -> None:
        super().__init__(loaded)
        self.lock, self.running, self.peak = threading.Lock(), 0, 0
        self.barrier = threading.Barrier(parties, timeout=20) if parties else None

    def run(self, inputs, explain):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            return super().run(inputs, explain)
        finally:
            with self.lock:
                self.running -= 1


def _images(loaded, n: int) -> list[np.ndarray]:
    spec = loaded.input_spec
    rng = np.random.default_rng(3)
    return [normalize(rng.random((spec.in_chans, *spec.image_size), dtype=np.float32), spec) for _ in range(n)]


async def _predict_each(engine: InferenceEngine, threads: InferenceThreads, images: list[np.ndarray]):
    batcher = Batcher(engine, max_batch=1, wait_s=0.0, threads=threads)
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit([img], [None]) for img in images))
    finally:
        await batcher.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_batches_run_side_by_side_up_to_the_thread_count(store, workers):
    loaded = ModelRegistry(store).load(CROSS_MODEL)
    engine = _CountingEngine(loaded, parties=workers)
    images = _images(loaded, 6)
    reference = InferenceEngine(loaded).run(images, [None] * len(images)).predictions

    async def main():
        threads = InferenceThreads(2)
        threads.use(workers)
        return await _predict_each(engine, threads, images)

    answers = asyncio.run(main())
    assert engine.peak == workers  # two threads: two batches at once (the barrier needs both); one: never two
    for (pred,), ref in zip(answers, reference):  # each request got its own image's answer
        for task, p in ref.probabilities.items():
            np.testing.assert_allclose(pred.probabilities[task], p, atol=1e-5)


def test_retry_after_counts_the_batches_that_run_at_once():
    admission = Admission(limit=200, deadline_s=30)
    admission.per_image_s = 0.05
    admission.admit(100)
    assert admission.retry_after() == 5
    admission.workers = 2
    assert admission.retry_after() == 3  # 100 images x 0.05 s over two threads, rounded up
