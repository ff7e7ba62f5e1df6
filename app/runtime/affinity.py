"""Which CPUs the threads of a forward pass run on: while a batch is the only one running, the inference
thread that runs it on one CPU and ONNX Runtime's worker threads on the others.

A pass on ``torch_threads`` threads is the calling inference thread plus ONNX Runtime's ``torch_threads - 1``
workers. Between batches both sleep. Woken by an inference thread, a worker tended to be put on that
thread's core (Linux favours the waker's CPU), so the two halves of a parallel pass took turns on one core
while the other stayed idle: /analyze's batch of four 64x64 windows took 14-16 ms served against 9-10 ms in
a loop that kept one thread busy. With the caller on the first CPU and the worker on the second it took
9-10 ms (2-core development machine; docs/benchmarks.md). While two batches run at once (two
inference workers) the callers are not held to one CPU: both on one core while the other ran only the
runtime's worker was slower under load, so a caller is pinned only while its batch runs alone.

``PRECURSOR_PIN_THREADS``: ``auto`` (the default) pins only when this process may run on exactly as many CPUs
as a pass uses (a 2-core machine or a container given its own cores), so it never confines the service to
part of a larger machine that others share; ``on`` pins to the first CPUs it may use whenever there are
enough; ``off`` leaves placement to the kernel. Only a service whose models all run on ONNX Runtime is
pinned: eager torch runs its own pool of threads, which the kernel places.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

PinMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class ThreadPlacement:
    callers: int  # the CPU of the threads that start passes (the service's inference threads)
    workers: tuple[int, ...]  # one CPU for each of ONNX Runtime's intra-op worker threads
    cpus: tuple[int, ...]  # every CPU the process may use: where a batch's thread runs beside another batch

    def runtime_affinities(self) -> str:
        """ONNX Runtime's ``session.intra_op_thread_affinities``: one entry per worker, CPUs counted from 1."""
        return ";".join(str(cpu + 1) for cpu in self.workers)

    def describe(self) -> str:
        cpus = ", ".join(map(str, self.workers))
        return (f"a batch running alone: its inference thread on CPU {self.callers}, ONNX Runtime's worker threads "
                f"on CPU {cpus}")


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (empty where the platform cannot say)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


def plan_placement(mode: PinMode, threads: int, cpus: list[int] | None = None) -> tuple[ThreadPlacement | None, str]:
    """Where a pass's ``threads`` threads go, or None; and, either way, why (reported in /v2/models)."""
    cpus = allowed_cpus() if cpus is None else sorted(cpus)
    if mode == "off":
        return None, "not pinned: PRECURSOR_PIN_THREADS is off"
    if threads < 2:
        return None, "not pinned: a pass runs on one thread"
    if len(cpus) < threads:
        return None, f"not pinned: this process may run on {len(cpus)} CPUs, fewer than the {threads} threads of a pass"
    if mode == "auto" and len(cpus) > threads:
        return None, (f"not pinned: this process may run on {len(cpus)} CPUs, more than the {threads} a pass uses "
                      "(PRECURSOR_PIN_THREADS=on pins anyway)")
    placement = ThreadPlacement(cpus[0], tuple(cpus[1:threads]), tuple(cpus))
    return placement, placement.describe()


class CallerPlacement:
    """Places the calling inference thread before each batch: on ``placement.callers`` while the batch runs
    alone, on any CPU the process may use otherwise. Affinity is per thread on Linux; each thread remembers
    where it was put, so a batch placed like the last one costs no system call."""

    def __init__(self, placement: ThreadPlacement) -> None:
        self.alone = frozenset({placement.callers})
        self.shared = frozenset(placement.cpus)
        self._current = threading.local()
        self.failed = False

    def place(self, alone: bool) -> None:
        want = self.alone if alone else self.shared
        if self.failed or getattr(self._current, "cpus", None) == want:
            return
        try:
            os.sched_setaffinity(0, want)
        except OSError as exc:  # refused after all: serve unplaced rather than fail a batch
            self.failed = True
            logger.warning("inference threads are no longer placed: setting a thread's CPUs failed (%s)", exc)
            return
        self._current.cpus = want


def can_pin() -> str | None:
    """None if this thread's CPUs can be set here, else why not (a sandbox may refuse the system call)."""
    try:
        os.sched_setaffinity(0, os.sched_getaffinity(0))
    except (AttributeError, OSError) as exc:
        return f"setting a thread's CPUs failed ({getattr(exc, 'strerror', None) or exc})"
    return None


__all__ = ["CallerPlacement", "PinMode", "ThreadPlacement", "allowed_cpus", "can_pin", "plan_placement"]
