"""Liveness and readiness for orchestrators (plus KServe-v2-style aliases)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ModelStateDep
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/livez", response_model=Health)
@router.get("/v2/health/live", response_model=Health, include_in_schema=False)
async def livez() -> Health:
    """The process is up and answering."""
    return Health(status="alive")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
@router.get("/v2/health/ready", response_model=Health, include_in_schema=False)
async def readyz(state: ModelStateDep) -> JSONResponse:
    """200 once a model is loaded and warmed up; 503 while loading or after a failed load, with the reason."""
    ref = state.loaded.manifest.ref if state.loaded else None
    body = Health(status=state.status, reason=state.reason, model=ref).model_dump()
    return JSONResponse(body, status_code=200 if state.ready else 503)
