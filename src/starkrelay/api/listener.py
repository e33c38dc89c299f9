"""The ``starkrelay worker`` process's own HTTP listener: ``/metrics``, ``/health`` and
``/health/ready`` on ``WORKER_METRICS_HOST:WORKER_METRICS_PORT``, nothing else.

It is a background part of the worker (``health_listener``): the port is bound at start-up,
so a port in use stops the process with one line naming ``WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from functools import partial
from typing import TYPE_CHECKING

import anyio
import structlog
import uvicorn
from fastapi import FastAPI

from starkrelay.api.health import missing_parts
from starkrelay.api.health import router as health_router
from starkrelay.api.scrape import metrics_router
from starkrelay.core.supervision import Heartbeat, StartRefused, Supervisor

if TYPE_CHECKING:
    from starkrelay.api.deps import Services

log = structlog.get_logger("starkrelay.api.listener")


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a process that handles its own signals."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def health_app(services: Services, supervisor: Supervisor) -> FastAPI:
    """An app with only the health and metrics routes, reading this process's state."""
    app = FastAPI(title="starkrelay worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.state.supervisor = supervisor
    app.state.role = services.role
    app.state.readiness = partial(  # starkrelay_ready, the same check as /health/ready
        missing_parts, services.redis, services.public_key, supervisor, services.role
    )
    app.include_router(health_router)
    app.include_router(metrics_router)
    return app


def health_listener(
    supervisor: Supervisor,
) -> Callable[[Services, Heartbeat], AbstractAsyncContextManager[None]]:
    """The part ``worker_listener`` serving ``health_app`` until the process stops."""

    @asynccontextmanager
    async def worker_listener(services: Services, heartbeat: Heartbeat) -> AsyncIterator[None]:
        settings = services.settings
        host, port = settings.worker_metrics_host, settings.worker_metrics_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(128)  # connections queue from now on, while uvicorn starts
        except OSError as error:
            sock.close()
            raise StartRefused(
                f"WORKER_METRICS_PORT: cannot listen on {host}:{port} ({error.strerror}); "
                "choose a free port, or 0 to turn the worker's listener off",
                exit_code=1,
            ) from None
        config = uvicorn.Config(
            health_app(services, supervisor),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = _EmbeddedServer(config)
        stopping = False

        async def serve() -> None:
            await server.serve(sockets=[sock])
            if not stopping:
                raise RuntimeError("the worker's health listener stopped on its own")

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(serve)
                log.info("listener.started", host=host, port=port)
                try:
                    yield
                finally:
                    stopping = True
                    server.should_exit = True
        finally:
            sock.close()

    return worker_listener
