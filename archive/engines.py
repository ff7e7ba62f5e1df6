"""Where tasks run: the plain in-process loop, or Dask (an embedded ``LocalCluster``, or a cluster it attaches to).

Both run the same task functions (:mod:`archive.task`, :mod:`archive.rolling`) and yield ``(batch, result)``
as tasks finish, ``result`` being what the function returned or the exception that ended the task.

**Dask.** With no scheduler address a ``LocalCluster`` is started (:func:`local_cluster`): one worker process
per core, one thread each (so a crash costs one task, and the model's own threads are set per worker), with
the scheduler told to queue tasks rather than pile them on workers (``worker-saturation`` 1.0) and to give up
on a task after ``allowed_failures`` worker deaths (``KilledWorker``), no profiler, and the workers started
without Dask's ``MALLOC_TRIM_THRESHOLD_`` (:data:`WORKER_ENVIRON`), which halved this workload's speed. With
``--scheduler ADDRESS`` the run attaches to that cluster and uses its settings (a worker that has the trim
threshold set says so in its log; docs/archive.md shows how to start workers without it). At most ``2 x threads`` tasks are in flight; the next is submitted as one
finishes, so a million files are never a million futures.

A worker that dies (a reader that segfaults, memory) loses the task it ran; the scheduler gives it to another
worker (its output part is written atomically and under the same name, so a task that had finished writing
and died after is simply written again). A task that still kills workers after ``allowed_failures`` retries
comes back as ``KilledWorker``; so can a task that only shared a worker with such a file, so the driver tries
each of those again alone (:meth:`DaskEngine.one_at_a_time`) before calling it a failure.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

logger = logging.getLogger("archive")


class LoopEngine:
    """Tasks one after the other in this process (no crash containment: a reader that segfaults ends the run,
    which a rerun resumes)."""

    kind = "in-process loop"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    @property
    def slots(self) -> int:
        return 1

    def map(self, fn: Callable[..., Any], batches: Iterable[Any], *args: Any, in_flight: int | None = None,
            name: str = "task") -> Iterator[tuple[Any, Any]]:
        for batch in batches:
            try:
                yield batch, fn(batch, *args)
            except Exception as exc:  # noqa: BLE001 - handed to the driver, which decides
                yield batch, exc

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": 1, "threads_per_worker": self.threads}

    def close(self) -> None:
        pass


#: Dask's worker environment without its MALLOC_TRIM_THRESHOLD_ (65536): a fixed trim threshold switches off
#: glibc's adaptive mmap threshold, so every array above 128 KiB is mapped and unmapped afresh; measured here it
#: doubled a station-day's time in a worker (150 ms against 75 ms in the driver's own process)
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


def local_cluster(workers: int, allowed_failures: int = 3, environ: dict[str, Any] | None = None) -> Any:
    """The embedded cluster: ``workers`` processes of one thread, tasks queued on the scheduler (a worker holds
    only the task it runs, so a crash costs one task), ``allowed_failures`` worker deaths per task, no profiler
    sampling the task's thread, and the workers' environment ``environ`` (default :data:`WORKER_ENVIRON`)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures,
                          "distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False,
                          "distributed.nanny.pre-spawn-environ": WORKER_ENVIRON if environ is None else environ}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=logging.ERROR)


class DaskEngine:
    kind = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, allowed_failures: int = 3,
                 client: Any = None) -> None:
        from distributed import Client

        self.cluster = None
        self.scheduler = scheduler
        if client is not None:
            self.client = client
        elif scheduler:
            self.client = Client(scheduler)
        else:
            _quiet_dask()
            self.cluster = local_cluster(workers or os.cpu_count() or 1, allowed_failures)
            self.client = Client(self.cluster)
            _quiet_dask()
        self._owned = client is None
        self.token = secrets.token_hex(4)

    @property
    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    @property
    def workers(self) -> int:
        return max(1, len(self.client.nthreads()))

    def map(self, fn: Callable[..., Any], batches: Iterable[Any], *args: Any, in_flight: int | None = None,
            name: str = "task") -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        limit = in_flight or 2 * self.slots
        pending: dict[Any, Any] = {}
        counter = iter(range(1 << 62))

        def submit(batch: Any) -> Any:
            key = f"archive-{name}-{self.token}-{next(counter)}"
            future = self.client.submit(fn, batch, *args, key=key, pure=False)
            pending[future] = batch
            return future

        source = iter(batches)
        queue = as_completed([submit(b) for b in islice(source, limit)])
        for future in queue:
            batch = pending.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, or what the task raised
                result = exc
            future.release()
            more = next(source, None)
            if more is not None:
                queue.add(submit(more))
            yield batch, result

    def one_at_a_time(self, fn: Callable[..., Any], batches: Iterable[Any], *args: Any,
                      name: str = "task") -> Iterator[tuple[Any, Any]]:
        """Each batch alone on the cluster (nothing else of this run in flight)."""
        return self.map(fn, batches, *args, in_flight=1, name=name)

    def describe(self) -> dict[str, Any]:
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        return {"kind": self.kind, "scheduler": self.scheduler or "embedded LocalCluster",
                "address": info.get("address"), "workers": len(workers),
                "threads_per_worker": sorted({w.get("nthreads") for w in workers.values()})}

    def close(self) -> None:
        if self._owned:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _quiet_dask() -> None:
    """Dask's INFO lines (workers starting, closing) are not the run's news: WARNING and up, unless debugging."""
    if logger.getEffectiveLevel() <= logging.DEBUG:
        return
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.WARNING)


def is_killed_worker(exc: BaseException) -> bool:
    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover - without the extra there is no Dask engine
        return False
    return isinstance(exc, KilledWorker)


__all__ = ["WORKER_ENVIRON", "DaskEngine", "LoopEngine", "is_killed_worker", "local_cluster"]
