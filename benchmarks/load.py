"""Closed-loop HTTP load on loopback: N clients each keep one request in flight for a fixed time."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(latencies: list[float], statuses: Counter, seconds: float, no_retry_after: int) -> dict:
    return {
        "requests": sum(statuses.values()),
        "req_per_s": sum(statuses.values()) / seconds if seconds else None,
        "ok_per_s": statuses.get(200, 0) / seconds if seconds else None,
        "p50_ms": None if not latencies else 1000 * statistics.median(latencies),
        "p95_ms": None if not latencies else 1000 * percentile(latencies, 95),
        "p99_ms": None if not latencies else 1000 * percentile(latencies, 99),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "503_without_retry_after": no_retry_after,
        "5xx_other_than_503": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500 and k != 503),
    }


async def _closed_loop(base_url: str, send: Send, concurrency: int, duration_s: float, warmup_s: float) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    no_retry_after = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        measure_from, stop_at = start + warmup_s, start + warmup_s + duration_s

        async def worker() -> None:
            nonlocal no_retry_after
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    r = await send(client)
                    status: int | str = r.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                t1 = time.perf_counter()
                if t0 < measure_from or t1 > stop_at:
                    continue  # only requests sent and answered inside the measured window count
                statuses[status] += 1
                if status == 200:
                    latencies.append(t1 - t0)
                elif status == 503 and "retry-after" not in r.headers:
                    no_retry_after += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(latencies, statuses, duration_s, no_retry_after)


def closed_loop(base_url: str, send: Send, concurrency: int, duration_s: float, warmup_s: float = 2.0) -> dict:
    return asyncio.run(_closed_loop(base_url, send, concurrency, duration_s, warmup_s))


def sequential(client: httpx.Client, request: Callable[[httpx.Client], httpx.Response], n: int) -> dict:
    """One client, ``n`` requests after two warm-up ones: latency percentiles."""
    for _ in range(2):
        request(client).raise_for_status()
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = request(client)
        latencies.append(time.perf_counter() - t0)
        r.raise_for_status()
    return {"requests": n, "p50_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * percentile(latencies, 95)}
