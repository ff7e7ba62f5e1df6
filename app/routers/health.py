"""Liveness and readiness for orchestrators (plus KServe-v2-style aliases); GET and HEAD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ModelStateDep
from ..schemas import Health
from ..security import guarded

router = APIRouter(tags=["health"])


def _probe(*paths: str, **options: Any) -> Callable:
    """Register an endpoint for GET (documented) and HEAD (same answer, no body) on each path."""

    def register(endpoint: Callable) -> Callable:
        for path in paths:
            router.get(path, **options, **guarded("health"))(endpoint)
            router.head(path, include_in_schema=False, **options, **guarded("health"))(endpoint)
        return endpoint

    return register


@_probe("/livez", "/v2/health/live", response_model=Health)
async def livez() -> Health:
    """The process is up and answering."""
    return Health(status="alive")


@_probe(
    "/readyz", "/v2/health/ready", response_model=Health,
    responses={503: {"model": Health, "description": "Loading, or loading failed (the reason says which)"}},
)
async def readyz(state: ModelStateDep) -> JSONResponse:
    """200 once a model is loaded and warmed up; 503 while loading or after a failed load, with the reason."""
    body = Health(status=state.status, reason=state.reason, model=state.default_ref if state.ready else None,
                  models=list(state.models) or None).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=200 if state.ready else 503)
