"""``GET /health`` (alive) and ``GET /health/ready`` (can serve)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from starkrelay.deps import Services, ServicesDep
from starkrelay.ops import metrics
from starkrelay.store import redis_answers

router = APIRouter(tags=["operations"])


async def missing_parts(services: Services) -> list[str]:
    """What keeps this process from serving (``redis``, ``stark_public_key``: the latter only
    where webhooks arrive, not in a ``worker``); empty when ready. Used by ``/health/ready``
    and by ``/metrics`` (``starkrelay_ready``)."""
    missing: list[str] = []
    redis_ok = await redis_answers(services.redis)
    metrics.REDIS_UP.set(1 if redis_ok else 0)
    if not redis_ok:
        missing.append("redis")
    if services.role != "worker" and not services.public_key.loaded:
        missing.append("stark_public_key")
    return missing


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive; checks nothing else."""
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(services: ServicesDep) -> JSONResponse:
    """200 when Redis answers and Stark Bank's public key is loaded; else 503 naming what
    is missing (``redis``, ``stark_public_key``)."""
    missing = await missing_parts(services)
    if missing:
        return JSONResponse({"status": "unavailable", "missing": missing}, status_code=503)
    return JSONResponse({"status": "ready"})
