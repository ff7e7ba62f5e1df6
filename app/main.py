"""Application factory: settings, lifespan (model loading), middleware, error handlers, routers."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from . import __version__
from .errors import install_error_handlers
from .limits import BodySizeLimitMiddleware
from .metrics import Metrics, MetricsMiddleware
from .routers import analyze, health, metrics, models, predict
from .settings import Settings, get_settings
from .state import ModelState, start_model, stop_model

logger = logging.getLogger(__name__)

DESCRIPTION = """Looks for possible earthquake precursors in ground magnetometer records with a multi-task
ConvNeXt (magnitude class and station-to-epicentre azimuth class). **Research tool, not a warning
system**; the default model is trained on simulated data and every response says what its model was
trained on."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state: ModelState = app.state.model
        state._task = asyncio.create_task(start_model(state, settings, app.state.metrics))
        yield
        await stop_model(state)

    app = FastAPI(title="Magnetometer precursor service", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.model = ModelState()

    install_error_handlers(app)
    for router in (health.router, predict.router, analyze.router, models.router, metrics.router):
        app.include_router(router)

    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    return app
