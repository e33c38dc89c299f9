"""The forwarding worker as a background part of the app (``app.BACKGROUND``).

The consumer name is stable per host and process role (``<hostname>-serve``,
``<hostname>-worker``) or ``FORWARD_CONSUMER_NAME``, so a restarted process re-reads its own
pending entries first; entries of a process that never comes back are claimed by the others
after ``FORWARD_CLAIM_IDLE_SECONDS``. Never random: a new name per start would strand the
previous start's pending entries until they go idle.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay.deps import Role, Services
from starkrelay.forwarding.stream_state import trim_acknowledged
from starkrelay.forwarding.transfers import Destination
from starkrelay.forwarding.worker import ForwardingWorker, WorkerConfig
from starkrelay.settings import Settings

log = structlog.get_logger(__name__)

TRIM_SECONDS = 5.0


def consumer_name(settings: Settings, role: Role) -> str:
    """This process's consumer name: ``FORWARD_CONSUMER_NAME`` if set, else
    ``<hostname>-<role>``. The same after a restart; different per host and per role, so
    ``serve`` and ``worker`` on one host never share one. Two processes of the same role on
    one host must each set ``FORWARD_CONSUMER_NAME``."""
    return settings.forward_consumer_name or f"{socket.gethostname()}-{role}"


def build_worker(services: Services, name: str | None = None) -> ForwardingWorker:
    """A worker for this process (consumer ``consumer_name``), or consumer ``name``."""
    settings = services.settings
    return ForwardingWorker(
        services.redis,
        services.keys,
        services.bank,
        Destination.from_settings(settings),
        WorkerConfig.from_settings(settings),
        name or consumer_name(settings, services.role),
    )


async def _trim_forever(services: Services, stop: anyio.Event) -> None:
    while not stop.is_set():
        try:
            await trim_acknowledged(services.redis, services.keys)
        except RedisError as exc:
            log.debug("forwarding.trim.unavailable", error=str(exc))
        with anyio.move_on_after(TRIM_SECONDS):
            await stop.wait()


@asynccontextmanager
async def forwarding_worker(services: Services) -> AsyncIterator[None]:
    """Background part: run one ``ForwardingWorker`` until exit. On exit the worker finishes
    the batch in hand (its entries are acked or stay pending for the next start)."""
    worker = build_worker(services)
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run, stop)
        tasks.start_soon(_trim_forever, services, stop)
        try:
            yield
        finally:
            stop.set()
