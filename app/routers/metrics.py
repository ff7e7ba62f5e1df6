from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(m: MetricsDep) -> Response:
    """Prometheus exposition: request counts and latency by route, per-stage timings, model load time."""
    return Response(m.render(), media_type=m.content_type)
