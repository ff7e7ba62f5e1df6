"""GET /metrics: Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import MetricsDep
from ..security import guarded

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    **guarded("metrics"),
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
async def metrics(m: MetricsDep) -> Response:
    """Request counts and latency by route and status, per-stage timings, batch sizes, model load time."""
    return Response(m.render(), media_type=m.content_type)
