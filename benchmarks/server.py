"""The service as a real uvicorn process on 127.0.0.1 for the benchmarks, and its resident memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .load import percentile

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # it exited meanwhile
        return 0.0
    return float("nan")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its direct children (the decode workers), as the peers' harness counts it."""
    return _vm_rss_mb(pid) + sum(_vm_rss_mb(c) for c in _children(pid))


class Service:
    """``with Service(env) as svc:`` starts ``python -m app`` with ``env`` added and waits until it is ready."""

    def __init__(self, env: dict[str, str], ready_timeout_s: float = 600) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PRECURSOR_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1", **env}
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Service:
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=self.env, cwd=ROOT)
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the service exited with {self.proc.returncode} before it was ready")
                try:
                    r = client.get("/readyz")
                    if r.status_code == 200:
                        return self
                    if r.json().get("status") == "failed":
                        raise RuntimeError(f"the service failed to load: {r.json().get('reason')}")
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError("the service did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mb(self) -> float:
        assert self.proc is not None
        return rss_mb(self.proc.pid)


class _Periodic:
    """Calls ``tick`` every ``every_s`` in a thread between ``__enter__`` and ``__exit__``."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RssSampler(_Periodic):
    """Samples the service's resident memory while a load runs: peak and last value."""

    def __init__(self, service: Service, every_s: float = 0.5) -> None:
        super().__init__(every_s)
        self.service = service
        self.peak = self.last = service.rss_mb()

    def tick(self) -> None:
        self.last = self.service.rss_mb()
        self.peak = max(self.peak, self.last)


class LivezProber(_Periodic):
    """Asks ``/livez`` every ``every_s`` while a load runs; its latencies (inf for a failure)."""

    def __init__(self, base: str, every_s: float = 0.05) -> None:
        super().__init__(every_s)
        self.latencies: list[float] = []
        self._client = httpx.Client(base_url=base, timeout=10)

    def tick(self) -> None:
        t0 = time.perf_counter()
        try:
            ok = self._client.get("/livez").status_code == 200
        except httpx.HTTPError:
            ok = False
        self.latencies.append(time.perf_counter() - t0 if ok else float("inf"))

    def percentile_ms(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else 1000 * value

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._client.close()
