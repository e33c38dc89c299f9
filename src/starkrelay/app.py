"""The FastAPI application and the process's long-running parts.

A feature plugs in with one line in each list below: its router in ``ROUTERS`` and, if it
runs in the background (scheduler, stream consumer), an async context manager factory in
``BACKGROUND``, called as ``part(services, heartbeat)`` (adapters in ``wiring``: features
take plain arguments and never see ``Services``). The webhook route is not a router: it is a
plain route built once per process (``webhook.add_webhook_route``). Roles:

- ``serve``: routes + background (the default process);
- ``api``: routes only (any number of replicas behind a load balancer);
- ``worker``: background + ``WORKER_ROUTERS`` only (health and metrics; no inbound traffic).

Every role is this app served by uvicorn (``cli.serve``). Supervision (``core.supervision``):
each part is entered in a task of its own. Entering it is its start-up (it retries what it
needs with bounded backoff); once entered it is ``running``; a loop that calls
``heartbeat.beat()`` is watched by liveness. A part whose context raises
(its start-up gave up, or a task of it died) stops the whole process with a non-zero exit, so
the orchestrator restarts it: never a healthy-looking process that silently does nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import anyio
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from redis.exceptions import RedisError

from starkrelay.api.body_limit import BodyLimitMiddleware
from starkrelay.api.deps import Role, Services
from starkrelay.api.forwards import router as forwards_router
from starkrelay.api.health import missing_parts
from starkrelay.api.health import router as ops_router
from starkrelay.api.http_metrics import RequestDurationMiddleware
from starkrelay.api.scrape import metrics_router
from starkrelay.api.status import router as status_router
from starkrelay.api.webhook import WebhookIntake, add_webhook_route
from starkrelay.api.wiring import (
    balance_waiter,
    campaign_scheduler,
    forwarding_worker,
    reconciliation_scheduler,
    webhook_registration,
)
from starkrelay.bank.credentials import credentials_refusal
from starkrelay.bank.errors import BankError, BankUnavailableError
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.console import router as console_router
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.settings import WEBHOOK_PATH, Settings
from starkrelay.core.store import store_from_settings
from starkrelay.core.supervision import (
    Fatal,
    Heartbeat,
    StartRefused,
    Supervisor,
    retry_startup,
)

log = structlog.get_logger("starkrelay.app")

Background = Callable[[Services, Heartbeat], AbstractAsyncContextManager[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

ROUTERS: list[APIRouter] = [
    ops_router,
    metrics_router,
    status_router,
    forwards_router,
    console_router,
]
WORKER_ROUTERS: list[APIRouter] = [ops_router, metrics_router]
"""A worker answers its probes and scrapes, nothing else (no webhooks, no docs)."""
BACKGROUND: list[Background] = [
    webhook_registration,
    campaign_scheduler,
    forwarding_worker,
    balance_waiter,
    reconciliation_scheduler,
]
INTAKE_REQUIRES: dict[Role, tuple[str, ...]] = {"serve": ("forwarding_worker",)}
"""Parts that must be running for a role to accept a webhook (else 503, Stark Bank retries).
An ``api`` replica needs none of its own: it enqueues durably in Redis and the workers of
other processes forward; Redis being down is answered 503 by the route itself."""

_EXPECTED_FAILURES = (RedisError, BankError, OSError)
"""A part that dies of one of these is logged in one line, without a traceback."""


@asynccontextmanager
async def open_services(
    settings: Settings, *, bank: BankGateway | None = None, role: Role = "serve"
) -> AsyncIterator[Services]:
    """Open Redis and the bank gateway for ``settings`` in a process of ``role``; closes
    Redis on exit."""
    store = store_from_settings(settings)
    gateway = bank or BankGateway(settings)
    services = Services(
        settings=settings,
        store=store,
        bank=gateway,
        public_key=StarkPublicKey(gateway),
        role=role,
    )
    try:
        yield services
    finally:
        await store.redis.aclose()


def credentials_checked(verified: bool = False) -> Background:
    """The part ``stark_credentials``: one authenticated call at start (skipped when the
    command line already made it, ``verified``). Transient failures are retried; refused
    credentials stop the process with exit status 2 and one line naming the variables."""

    @asynccontextmanager
    async def stark_credentials(services: Services, heartbeat: Heartbeat) -> AsyncIterator[None]:
        if not verified:
            await check_credentials(services.bank, services.settings, heartbeat)
        yield

    return stark_credentials


async def check_credentials(bank: BankGateway, settings: Settings, heartbeat: Heartbeat) -> None:
    """Verify the credentials, retrying while Stark Bank is unreachable; ``StartRefused``
    (exit status 2) when it refuses them."""

    async def attempt() -> None:
        try:
            await bank.verify_credentials(RetryPolicy.off())
        except BankUnavailableError:
            raise
        except BankError as error:
            raise StartRefused(credentials_refusal(error, settings) or str(error)) from None

    await retry_startup(
        attempt,
        part=heartbeat,
        policy=RetryPolicy.startup(settings),
        retry_on=(BankUnavailableError,),
        what="Stark Bank credentials",
    )
    log.info("bank.credentials.verified", project_id=settings.stark_project_id)


@asynccontextmanager
async def run_background(
    services: Services, supervisor: Supervisor, parts: Sequence[Background] | None = None
) -> AsyncIterator[None]:
    """Start every part (``BACKGROUND`` by default), each in its own supervised task; on exit
    stop the running ones cleanly and cancel those still starting."""
    chosen = list(BACKGROUND if parts is None else parts)
    stop = anyio.Event()
    scopes: dict[str, anyio.CancelScope] = {}
    async with anyio.create_task_group() as tasks:
        for part in chosen:
            tasks.start_soon(_supervise, part, services, supervisor, stop, scopes)
        log.info("app.background.starting", parts=[part.__name__ for part in chosen])
        try:
            yield
        finally:
            stop.set()
            for name, scope in scopes.items():
                if supervisor.heartbeat(name).state == "starting":
                    scope.cancel()


async def _supervise(
    part: Background,
    services: Services,
    supervisor: Supervisor,
    stop: anyio.Event,
    scopes: dict[str, anyio.CancelScope],
) -> None:
    name = part.__name__
    heartbeat = supervisor.heartbeat(name)
    with anyio.CancelScope() as scope:
        scopes[name] = scope
        try:
            async with part(services, heartbeat):
                heartbeat.running()
                log.info("app.part.running", part=name)
                await stop.wait()
        except Exception as error:
            cause = _single(error)
            heartbeat.state, heartbeat.detail = "failed", f"{type(cause).__name__}: {cause}"
            if isinstance(cause, StartRefused):
                supervisor.fail(cause.exit_code, str(cause))
                return
            log.error(
                "app.part.died",
                part=name,
                error=heartbeat.detail[:500],
                exc_info=None if isinstance(cause, _EXPECTED_FAILURES) else cause,
            )
            supervisor.fail(1, f"background part {name} stopped: {heartbeat.detail[:300]}")
            return
    heartbeat.state = "stopped"


def _single(error: BaseException) -> BaseException:
    """The one error inside (nested) single-member exception groups, else ``error``."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


# Our metrics are Prometheus (``GET /metrics``) and no OpenTelemetry SDK is installed: with
# FastAPI's own OpenTelemetry off, no request looks up the (unconfigured) providers first.
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def new_fastapi(settings: Settings, lifespan: Lifespan | None = None, docs: bool = True) -> FastAPI:
    """A FastAPI app with interactive docs (/docs, /redoc, /openapi.json) only when ``docs``
    and ``settings.docs_enabled``, and then with their scripts and styles served from the
    pinned ``fastapi-offline`` package under /docs-assets, never from a CDN."""
    common: dict[str, Any] = {
        "title": "starkrelay",
        "lifespan": lifespan,
        "telemetry": _NO_TELEMETRY,
    }
    if not (docs and settings.docs_enabled):
        return FastAPI(**common, docs_url=None, redoc_url=None, openapi_url=None)
    from fastapi_offline import FastAPIOffline

    app: FastAPI = FastAPIOffline(**common, static_url="/docs-assets")
    return app


def create_app(
    settings: Settings,
    *,
    role: Role = "serve",
    on_fatal: Callable[[Fatal], None] | None = None,
    credentials_verified: bool = False,
) -> FastAPI:
    """The ASGI app of a process of ``role``. Its lifespan opens ``Services``
    (``app.state.services``), checks the Stark Bank credentials and (roles that take webhooks)
    loads the public key in the background and, for ``serve`` and ``worker``, runs
    ``BACKGROUND`` under ``app.state.supervisor``. When a part dies (or the credentials are
    refused) ``on_fatal`` is called once: the caller stops the server and exits with
    ``Fatal.exit_code``."""
    supervisor = Supervisor(settings.heartbeat_timeout_seconds, on_fatal)
    takes_webhooks = role != "worker"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, role=role) as services:
            app.state.services = services
            if takes_webhooks:
                app.state.webhook_intake = WebhookIntake.build(
                    services, supervisor, INTAKE_REQUIRES.get(role, ())
                )
            parts = [credentials_checked(credentials_verified)]
            if role != "api":
                parts += BACKGROUND
            app.state.readiness = partial(  # starkrelay_ready on /metrics
                missing_parts, services.store.redis, services.public_key, supervisor, role
            )
            async with anyio.create_task_group() as tasks:
                if takes_webhooks:
                    tasks.start_soon(services.public_key.load)
                async with run_background(services, supervisor, parts):
                    log.info("app.started", role=role)
                    yield
                tasks.cancel_scope.cancel()
        log.info("app.stopped", role=role)

    app = new_fastapi(settings, lifespan, docs=role != "worker")
    app.state.supervisor = supervisor
    app.state.role = role
    app.add_middleware(BodyLimitMiddleware, limits={WEBHOOK_PATH: settings.webhook_max_body_bytes})
    app.add_middleware(RequestDurationMiddleware)  # outermost: it also times refused bodies
    if takes_webhooks:
        add_webhook_route(app)
    for router in WORKER_ROUTERS if role == "worker" else ROUTERS:
        app.include_router(router)
    return app
