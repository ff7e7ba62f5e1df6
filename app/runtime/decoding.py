"""Reading uploads: in worker processes that a crash can take down without taking the service with it.

Station files and PNGs are parsed by C code fed with a stranger's bytes (numpy's casts, Pillow, zlib,
cdflib, ObsPy's libmseed). A bug there that crashes (numpy 2.4's datetime cast segfaulted on a CSV with one
bad timestamp among 600) must cost one request, not every request in flight. :class:`DecodePool` keeps a few
worker processes (:mod:`app.runtime.decode_worker`) that each read one upload at a time: a worker that dies
is replaced, its request is answered 422 naming the file and how the reader died, and the event is logged
and counted. A worker that takes longer than the timeout is killed the same way. The memory a large upload
takes while it is read (a 4096x4096 PNG: about 650 MB) is the worker's, not the service's; a worker still
large after a request is replaced.

:class:`InProcessReader` does the same reading in the calling thread (``PRECURSOR_DECODE_ISOLATION=false``):
no crash containment, for comparison and for platforms without ``/proc``.
:class:`Decoder` runs decoding work in threads, at most ``limit`` at once, with one of the two readers.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import numpy as np

import model_store.errors as store_errors
from model_store.errors import CorruptFileError, ModelStoreError
from model_store.formats import read_series
from model_store.input_spec import InputSpec
from model_store.png import ChosenInput, DecodedImage, decode_png_for
from model_store.series import StationSeries

from .frames import ChannelClosed, read_frame, series_from_parts, unpack, write_frame

logger = logging.getLogger(__name__)
T = TypeVar("T")
WORKER_MODULE = "app.runtime.decode_worker"
HELLO_TIMEOUT_S = 60.0


class DecodeUnavailable(RuntimeError):
    """No decode worker could be started: the service's fault, not the upload's."""


class UploadReader(Protocol):
    def read_series(self, data: bytes, name: str, fmt: str | None) -> StationSeries: ...
    def decode_png(self, data: bytes, candidates: Sequence[tuple[str, InputSpec]], named: bool = False,
                   name: str = "the PNG") -> ChosenInput: ...


class InProcessReader:
    """Reads uploads in the calling thread: no crash containment."""

    isolated = False

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read_series(self, data: bytes, name: str, fmt: str | None) -> StationSeries:
        return read_series(_named(data, name), format=fmt)

    def decode_png(self, data: bytes, candidates: Sequence[tuple[str, InputSpec]], named: bool = False,
                   name: str = "the PNG") -> ChosenInput:
        return decode_png_for(data, list(candidates), named)

    def describe(self) -> dict[str, Any]:
        return {"isolated": False}


def upload_name(filename: str | None, default: str = "upload") -> str:
    """An upload's name as error messages show it: its last path part, printable, at most 64 characters."""
    name = "".join(c for c in (filename or "").replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:64]
    return name or default


def _reap(proc: subprocess.Popen) -> int:
    """The exit status of a worker that stopped answering (killed if it is somehow still running)."""
    try:
        return proc.wait(1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _named(data: bytes, name: str) -> io.BytesIO:
    source = io.BytesIO(data)
    source.name = name
    return source


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process (/proc/sys/fs/pipe-max-size)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _widen(fd: int) -> None:
    """Give a pipe to a worker 1 MB of buffer instead of 64 KB: an FRG-604RC day's H, D, Z (2 MB) then crosses in
    two writes rather than 32, each a wake-up of the other process (about 6 ms less per day file on 2 cores).
    Where the system refuses, the pipe keeps its size."""
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    except OSError as exc:
        logger.debug("a decode worker's pipe keeps its size: %s", exc)


class _Worker:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
                                     bufsize=0)
        for pipe in (self.proc.stdin, self.proc.stdout):
            _widen(pipe.fileno())
        self.greeted = False
        self.requests = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def greet(self) -> None:
        """Wait for the worker's hello (it has imported the readers); DecodeUnavailable if it never comes."""
        if self.greeted:
            return
        timer = threading.Timer(HELLO_TIMEOUT_S, self.proc.kill)
        timer.start()
        try:
            header, _ = read_frame(self.proc.stdout)
        except (ChannelClosed, OSError, ValueError) as exc:
            self.proc.kill()
            code = self.proc.wait()
            raise DecodeUnavailable(f"a decode worker did not start ({_signal_name(code)}; the log has its error)") from exc
        finally:
            timer.cancel()
        if not header.get("hello"):
            raise DecodeUnavailable(f"a decode worker started with an unexpected greeting: {header!r}")
        self.greeted = True

    def call(self, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytearray]:
        self.requests += 1
        write_frame(self.proc.stdin, header, payload)
        return read_frame(self.proc.stdout)

    def stop(self, wait_s: float = 2.0) -> None:
        try:
            self.proc.stdin.close()  # the worker exits at the end of its input
        except OSError:
            pass
        try:
            self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@dataclass
class DecodeStats:
    crashes: int = 0
    timeouts: int = 0
    retired: int = 0
    started: int = 0


class DecodePool:
    """``processes`` decode workers, each reading one upload at a time (callers beyond wait for a free one)."""

    isolated = True

    def __init__(self, processes: int, timeout_s: float, retire_rss_mb: float,
                 on_failure: Callable[[str], None] | None = None, command: list[str] | None = None) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.retire_rss_mb = retire_rss_mb
        self.on_failure = on_failure or (lambda reason: None)
        self.command = command or [sys.executable, "-m", WORKER_MODULE]
        self.stats = DecodeStats()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        root = str(Path(__file__).resolve().parents[2])  # the worker imports the same app and model_store as we do
        self._env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}

    def start(self) -> None:
        """Start every worker (they import the readers while the service loads its models)."""
        for _ in range(self.processes):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self.command, self._env)
        with self._lock:
            self._workers.add(worker)
            self.stats.started += 1
        return worker

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        if not self._closed:
            self._idle.put(self._spawn())

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            worker.stop()

    def describe(self) -> dict[str, Any]:
        return {"isolated": True, "processes": self.processes, "timeout_s": self.timeout_s,
                "worker_pids": sorted(w.pid for w in self._workers), **vars(self.stats)}

    # -------------------------------------------------------------- requests
    def _call(self, header: dict[str, Any], payload: bytes, name: str) -> tuple[dict[str, Any], bytearray]:
        if self._closed:
            raise DecodeUnavailable("the service is shutting down")
        worker = self._idle.get()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            worker.proc.kill()

        timer = threading.Timer(self.timeout_s, kill)
        try:
            worker.greet()
            timer.start()
            answer, body = worker.call(header, payload)
        except DecodeUnavailable:
            self._replace(worker)
            raise
        except (ChannelClosed, BrokenPipeError, ConnectionResetError, ValueError) as exc:
            code = _reap(worker.proc)
            self._replace(worker)
            raise self._failed(worker, name, len(payload), code, timed_out.is_set()) from exc
        finally:
            timer.cancel()
        if answer.get("rss_mb", 0) > self.retire_rss_mb:
            logger.info("decode worker %d holds %.0f MB after reading %s: replaced", worker.pid, answer["rss_mb"], name)
            self.stats.retired += 1
            worker.stop()
            self._replace(worker)
        else:
            self._idle.put(worker)
        if not answer.get("ok"):
            raise _refusal(answer)
        return answer, body

    def _failed(self, worker: _Worker, name: str, size: int, code: int | None, timed_out: bool) -> CorruptFileError:
        if timed_out:
            self.stats.timeouts += 1
            self.on_failure("timeout")
            logger.error("decode worker %d took longer than %g s reading %s (%d bytes): killed and replaced",
                         worker.pid, self.timeout_s, name, size)
            return CorruptFileError(f"{name}: reading it took longer than {self.timeout_s:g} s and was stopped; "
                                    "the file is damaged or far larger than a station record")
        how = _signal_name(code)
        self.stats.crashes += 1
        self.on_failure(how)
        logger.error("decode worker %d died (%s) reading %s (%d bytes): its request is refused, the worker replaced",
                     worker.pid, how, name, size)
        return CorruptFileError(f"{name}: the reader crashed on this file ({how}); the file is damaged or not in the "
                                "format it appears to be")

    def read_series(self, data: bytes, name: str, fmt: str | None) -> StationSeries:
        answer, body = self._call({"op": "series", "name": name, "format": fmt}, data, name)
        return series_from_parts(answer, body)

    def decode_png(self, data: bytes, candidates: Sequence[tuple[str, InputSpec]], named: bool = False,
                   name: str = "the PNG") -> ChosenInput:
        header = {"op": "png", "name": name, "candidates": [[n, s.to_dict()] for n, s in candidates], "named": named}
        answer, body = self._call(header, data, name)
        image = unpack(answer["arrays"], body)["image"]
        if image.dtype == np.uint8:  # 8-bit levels of a PNG of the model's own size (see the worker)
            image = np.divide(image, np.float32(255.0), dtype=np.float32)
        height, width = answer["original_size"]
        return ChosenInput(answer["index"], answer["why"], DecodedImage(image, (height, width), answer["resized"]))


def _refusal(answer: dict[str, Any]) -> Exception:
    """The worker's refusal as the model_store error it was (an internal failure as a RuntimeError)."""
    cls = getattr(store_errors, str(answer.get("error")), None)
    if isinstance(cls, type) and issubclass(cls, ModelStoreError):
        return cls(answer.get("message", ""))
    logger.error("decode worker failed: %s\n%s", answer.get("message"), answer.get("traceback", ""))
    return RuntimeError(f"decode worker failed: {answer.get('message')}")


class Decoder:
    """Runs decoding work in worker threads, at most ``limit`` at once (each can hold a few hundred MB; the
    size limits bound one request, this bounds them all together); ``reader`` parses the uploads."""

    def __init__(self, limit: int, reader: UploadReader) -> None:
        self.limit = limit
        self.reader = reader
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:  # made on first use: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.limit)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
