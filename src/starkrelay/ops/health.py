"""``GET /health`` (alive), ``GET /health/ready`` (can serve) and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from starkrelay.deps import ServicesDep
from starkrelay.ops import metrics
from starkrelay.store import redis_answers

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive; checks nothing else."""
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(services: ServicesDep) -> JSONResponse:
    """200 when Redis answers and Stark Bank's public key is loaded; else 503 naming what
    is missing (``redis``, ``stark_public_key``)."""
    missing: list[str] = []
    redis_ok = await redis_answers(services.redis)
    metrics.REDIS_UP.set(1 if redis_ok else 0)
    if not redis_ok:
        missing.append("redis")
    if not services.public_key.loaded:
        missing.append("stark_public_key")
    if missing:
        return JSONResponse({"status": "unavailable", "missing": missing}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def prometheus_metrics() -> Response:
    """Prometheus text exposition of the service's registry."""
    return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
