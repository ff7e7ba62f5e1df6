"""Liveness and readiness for orchestrators (plus KServe-v2-style aliases); GET and HEAD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ModelStateDep, SettingsDep
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
    responses={503: {"model": Health, "description": "Loading, or loading failed (the reason says which); or, with "
                                                      "PRECURSOR_READYZ_REPORTS_SATURATION, the inference queue is full"}},
)
async def readyz(state: ModelStateDep, settings: SettingsDep) -> JSONResponse:
    """200 once a model is loaded and warmed up; 503 while loading or after a failed load, with the reason (and,
    if the settings say so, while the inference queue is full: status ``saturated``, with ``Retry-After``)."""
    models = list(state.models) or None
    admission = state.admission
    if state.ready and settings.readyz_reports_saturation and admission.saturated:
        retry = admission.retry_after()
        reason = f"the inference queue is full ({admission.held} of {admission.limit} images); retry in {retry} s"
        body = Health(status="saturated", reason=reason, model=state.default_ref, models=models)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503, headers={"Retry-After": str(retry)})
    body = Health(status=state.status, reason=state.reason, model=state.default_ref if state.ready else None,
                  models=models)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if state.ready else 503)
