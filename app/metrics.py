"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import HttpMiddleware

disable_created_metrics()  # the *_created series only add noise to scrapes

STAGES = ("decode", "preprocess", "inference", "explain", "network")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "precursor_http_requests", "HTTP requests by route and status", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "precursor_http_request_duration_seconds", "Request latency by route", ["route"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.stage = Histogram(
            "precursor_stage_duration_seconds", "Time per processing stage", ["stage"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "precursor_inference_batch_size", "Images per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )
        self.model_load_seconds = Gauge(
            "precursor_model_load_seconds", "Time to load, verify and warm up the model", registry=self.registry
        )
        self.model_ready = Gauge("precursor_model_ready", "1 when a model is loaded and warmed up", registry=self.registry)
        self.inference_path = Gauge(
            "precursor_inference_path", "1 for the path (onnxruntime or eager) each served model runs on",
            ["model", "path"], registry=self.registry,
        )
        self.queued_images = Gauge(
            "precursor_queued_images", "Images admitted and not yet predicted (the bound is PRECURSOR_MAX_QUEUED_IMAGES)",
            registry=self.registry,
        )
        self.queue_limit = Gauge("precursor_queue_limit_images", "The bound on queued images", registry=self.registry)
        self.refused = Counter(
            "precursor_backpressure_refusals", "503s of backpressure: requests refused as the queue was full "
            "(queue_full), queued images dropped past their request's deadline (deadline)",
            ["reason"], registry=self.registry,
        )
        self.decode_failures = Counter(
            "precursor_decode_worker_failures", "Uploads whose decode worker died (by signal or exit status) or was "
            "killed past the decode timeout (timeout); each request was refused with 422 and the worker replaced",
            ["reason"], registry=self.registry,
        )
        for stage in STAGES:
            self.stage.labels(stage)
        for reason in ("queue_full", "deadline"):
            self.refused.labels(reason)

    def watch_queue(self, held: Callable[[], float], limit: int) -> None:
        self.queued_images.set_function(held)
        self.queue_limit.set(limit)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage.labels(stage).observe(seconds)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_stage(stage, time.perf_counter() - start)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware(HttpMiddleware):
    """Counts requests and times them, labelled by the matched route template (bounded cardinality).

    It sits outside the body limits, so their 408/413 refusals are counted too.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status["code"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
