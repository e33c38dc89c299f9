"""The FastAPI application and the process's long-running parts.

A feature plugs in with one line in each list below: its router in ``ROUTERS`` and, if it
runs in the background (scheduler, stream consumer), an async context manager factory in
``BACKGROUND`` that starts on enter and stops cleanly on exit. Roles:

- ``serve``: routes + background (the default process);
- ``api``: routes only (any number of replicas behind a load balancer);
- ``worker``: background only (``run_worker``; no inbound traffic).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial

import anyio
import structlog
from fastapi import APIRouter, FastAPI

from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.bank.registration import webhook_registered_at_start
from starkrelay.console import router as console_router
from starkrelay.deps import Role, Services
from starkrelay.forwarding.balance_wait import balance_waiter
from starkrelay.forwarding.service import forwarding_worker
from starkrelay.invoicing.scheduler import campaign_scheduler
from starkrelay.ops.health import missing_parts
from starkrelay.ops.health import router as ops_router
from starkrelay.ops.http_metrics import RequestDurationMiddleware
from starkrelay.ops.scrape import metrics_router
from starkrelay.ops.status import router as status_router
from starkrelay.reconciliation.service import reconciliation_scheduler
from starkrelay.settings import Settings
from starkrelay.store import connect_from_settings, keys_from_settings
from starkrelay.webhooks.routes import router as webhook_router

log = structlog.get_logger("starkrelay.app")

Background = Callable[[Services], AbstractAsyncContextManager[None]]

ROUTERS: list[APIRouter] = [
    ops_router,
    metrics_router,
    webhook_router,
    status_router,
    console_router,
]
BACKGROUND: list[Background] = [
    webhook_registered_at_start,
    campaign_scheduler,
    forwarding_worker,
    balance_waiter,
    reconciliation_scheduler,
]


@asynccontextmanager
async def open_services(
    settings: Settings, *, bank: BankGateway | None = None, role: Role = "serve"
) -> AsyncIterator[Services]:
    """Open Redis and the bank gateway for ``settings`` in a process of ``role``; closes
    Redis on exit."""
    redis = connect_from_settings(settings)
    gateway = bank or BankGateway(settings)
    services = Services(
        settings=settings,
        redis=redis,
        keys=keys_from_settings(settings),
        bank=gateway,
        public_key=StarkPublicKey(gateway),
        role=role,
    )
    try:
        yield services
    finally:
        await redis.aclose()


@asynccontextmanager
async def run_background(
    services: Services, parts: list[Background] | None = None
) -> AsyncIterator[None]:
    """Start every background part (``BACKGROUND`` by default); stop them in reverse order."""
    chosen = BACKGROUND if parts is None else parts
    async with AsyncExitStack() as stack:
        for part in chosen:
            await stack.enter_async_context(part(services))
        log.info("app.background.started", parts=[part.__name__ for part in chosen])
        yield


def create_app(settings: Settings, *, role: Role = "serve") -> FastAPI:
    """The ASGI app. Its lifespan opens ``Services`` (``app.state.services``), loads Stark
    Bank's public key in the background and, for ``role="serve"``, runs ``BACKGROUND``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, role=role) as services:
            app.state.services = services
            app.state.readiness = partial(missing_parts, services)  # starkrelay_ready
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(services.public_key.load)
                if role == "serve":
                    async with run_background(services):
                        log.info("app.started", role=role)
                        yield
                else:
                    log.info("app.started", role=role)
                    yield
                tasks.cancel_scope.cancel()
        log.info("app.stopped", role=role)

    app = FastAPI(title="starkrelay", lifespan=lifespan)
    app.add_middleware(RequestDurationMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def run_worker(settings: Settings, *, stop: anyio.Event | None = None) -> None:
    """Run ``BACKGROUND`` without HTTP until ``stop`` is set (or the task is cancelled)."""
    async with open_services(settings, role="worker") as services, run_background(services):
        log.info("app.started", role="worker")
        await (stop or anyio.Event()).wait()
    log.info("app.stopped", role="worker")
