"""Application factory: settings, lifespan (model loading), middleware, error handlers, routers.

``create_app(settings)`` builds an application (tests build several); ``app.main:app`` is the one
built from the environment's settings, made on first use, for ``uvicorn app.main:app`` and
``fastapi run app/main.py``. ``python -m app`` serves it with the settings' timeouts and limits.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from model_store.baseline_store import BaselineStore
from model_store.network_store import NetworkStore, network_store_of

from . import __version__
from .errors import UnhandledErrorMiddleware, install_error_handlers
from .limits import BodyLimitMiddleware
from .log import configure_logging
from .metrics import Metrics, MetricsMiddleware
from .openapi import install_openapi
from .request_id import HEADER as REQUEST_ID_HEADER
from .request_id import RequestIdMiddleware
from .routers import analyze, health, images, metrics, models, network, predict, stations
from .routers.page import install_page
from .runtime.analyses import AnalysisCache
from .runtime.baselines import BaselineCache
from .runtime.decoding import DecodePool, Decoder, InProcessReader, UploadReader
from .runtime.memory import limit_malloc_arenas
from .runtime.network import NetworkModels
from .runtime.state import ModelState, start_model, stop_model
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = """Looks for possible earthquake precursors in ground magnetometer records with a multi-task
ConvNeXt (magnitude class and station-to-epicentre azimuth class). **Research tool, not a warning
system**; the default model is trained on simulated data and every response says what its model was
trained on.

Every error is `{"error": "..."}` with the status listed for each route; invalid fields and parameters
are 400. Every response carries an `X-Request-ID` header (the client's own, if it sent a sane one)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state: ModelState = app.state.model
        if settings.malloc_arenas:  # before the inference threads and the runtime's pool start
            limit_malloc_arenas(settings.malloc_arenas)
        app.state.decoder.reader.start()  # the decode workers import their readers while the models load
        state._task = asyncio.create_task(start_model(state, settings, app.state.metrics))
        network_task = asyncio.create_task(_load_network_model(state, app.state.network))
        try:
            yield
        finally:
            network_task.cancel()
            await stop_model(state)
            app.state.decoder.reader.close()

    app = FastAPI(title="Magnetometer precursor service", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # served offline by install_page
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.model = ModelState.for_settings(settings, app.state.metrics)
    app.state.decoder = Decoder(settings.max_parallel_decodes, upload_reader(settings, app.state.metrics))
    app.state.analyses = AnalysisCache()
    app.state.baselines = BaselineCache(BaselineStore(settings.station_store), settings.station_store_poll_s)
    app.state.network = NetworkModels(NetworkStore(network_store_of(settings.model_store)))

    install_error_handlers(app)
    install_openapi(app, settings)
    for router in (health.router, predict.router, analyze.router, network.router, images.router, models.router,
                   stations.router, metrics.router):
        app.include_router(router)
    install_page(app)

    # Added innermost first: the catch-all for unhandled errors, gzip for responses over 1 KB to clients that
    # accept it (PNGs are left as they are), the body limits, CORS, metrics (which so count the body limits'
    # 408/413), then the request id.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, timeout_s=settings.body_timeout_s)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app


async def _load_network_model(state: ModelState, network: NetworkModels) -> None:
    """Once the models are loaded: read the network model of the default one (logged; kept for requests)."""
    if state._task is not None:
        await asyncio.shield(state._task)
    if state.ready:
        try:
            await asyncio.to_thread(network.for_model, state.default.loaded.manifest)
        except Exception:  # a request reads it again and reports why
            logger.exception("the network model could not be read")


def upload_reader(settings: Settings, metrics: Metrics) -> UploadReader:
    if not settings.decode_isolation:
        return InProcessReader()
    return DecodePool(settings.decode_processes, settings.decode_timeout_s, settings.decode_worker_max_rss_mb,
                      on_failure=lambda reason: metrics.decode_failures.labels(reason).inc())


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``app``: the application for the environment's settings, made (and logging set up) on first use."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        settings = get_settings()
        configure_logging(settings)
        _app = create_app(settings)
    return _app


def __dir__() -> list[str]:
    return sorted([*globals(), "app"])
