"""The forwarding worker as a background part of the app (``app.BACKGROUND``).

The consumer name is stable per host and role (``<hostname>-forwarder``), so a restarted
process re-reads its own pending entries first; entries of a host that never comes back are
claimed by the others after ``FORWARD_CLAIM_IDLE_SECONDS``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay.deps import Services
from starkrelay.forwarding.stream_state import refresh_stream_gauges, trim_acknowledged
from starkrelay.forwarding.transfers import Destination
from starkrelay.forwarding.worker import ForwardingWorker, WorkerConfig

log = structlog.get_logger(__name__)

GAUGE_REFRESH_SECONDS = 5.0


def consumer_name(role: str = "forwarder") -> str:
    """``<hostname>-<role>``: the same after a restart, different per host."""
    return f"{socket.gethostname()}-{role}"


def build_worker(services: Services, name: str | None = None) -> ForwardingWorker:
    settings = services.settings
    return ForwardingWorker(
        services.redis,
        services.keys,
        services.bank,
        Destination.from_settings(settings),
        WorkerConfig.from_settings(settings),
        name or consumer_name(),
    )


async def _refresh_gauges_forever(services: Services, stop: anyio.Event) -> None:
    while not stop.is_set():
        try:
            await trim_acknowledged(services.redis, services.keys)
            await refresh_stream_gauges(services.redis, services.keys)
        except RedisError as exc:
            log.debug("forwarding.gauges.unavailable", error=str(exc))
        with anyio.move_on_after(GAUGE_REFRESH_SECONDS):
            await stop.wait()


@asynccontextmanager
async def forwarding_worker(services: Services) -> AsyncIterator[None]:
    """Background part: run one ``ForwardingWorker`` until exit. On exit the worker finishes
    the batch in hand (its entries are acked or stay pending for the next start)."""
    worker = build_worker(services)
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run, stop)
        tasks.start_soon(_refresh_gauges_forever, services, stop)
        try:
            yield
        finally:
            stop.set()
