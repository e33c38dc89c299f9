"""``GET /health`` (alive) and ``GET /health/ready`` (can serve).

Liveness fails only for what a restart fixes (a part died, or a watched part stopped beating);
readiness fails for anything the process needs and does not have yet, naming each. The same
readiness drives ``starkrelay_ready`` on ``/metrics`` (``app.state.readiness``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from starkrelay.api.deps import PublicKeyDep, StoreDep, SupervisorDep
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.core import metrics
from starkrelay.core.store import Redis, redis_answers
from starkrelay.core.supervision import Supervisor

router = APIRouter(tags=["operations"])

_NEEDS_PUBLIC_KEY = ("serve", "api")
"""Roles that verify webhooks, and so need Stark Bank's public key to be ready."""


async def missing_parts(
    redis: Redis, public_key: StarkPublicKey, supervisor: Supervisor, role: str
) -> list[str]:
    """What keeps this process from serving, by name; empty when ready: ``redis``,
    ``stark_credentials``, ``stark_public_key`` (roles that take webhooks), and each
    background part not running (such as ``forwarding_worker``)."""
    missing: list[str] = []
    redis_ok = await redis_answers(redis)
    metrics.REDIS_UP.set(1 if redis_ok else 0)
    if not redis_ok:
        missing.append("redis")
    parts = supervisor.not_running()
    if "stark_credentials" in parts:
        missing.append("stark_credentials")
    if role in _NEEDS_PUBLIC_KEY and not public_key.loaded:
        missing.append("stark_public_key")
    missing += [name for name in parts if name != "stark_credentials"]
    return missing


@router.get("/health")
async def health(supervisor: SupervisorDep) -> JSONResponse:
    """200 ``{"status": "ok"}`` while the process and its background parts are alive; 503
    naming each part that died or whose heartbeat is older than HEARTBEAT_TIMEOUT_SECONDS."""
    unhealthy = supervisor.unhealthy()
    if supervisor.fatal is not None and not unhealthy:
        unhealthy = {"process": supervisor.fatal.message}
    if unhealthy:
        return JSONResponse({"status": "unhealthy", "parts": unhealthy}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/health/ready")
async def ready(
    request: Request, store: StoreDep, public_key: PublicKeyDep, supervisor: SupervisorDep
) -> JSONResponse:
    """200 when Redis answers, the Stark Bank credentials were accepted, the public key is
    loaded (roles that take webhooks) and every background part runs; else 503 naming what
    is missing (see ``missing_parts``)."""
    missing = await missing_parts(store.redis, public_key, supervisor, request.app.state.role)
    if missing:
        return JSONResponse({"status": "unavailable", "missing": missing}, status_code=503)
    return JSONResponse({"status": "ready"})
