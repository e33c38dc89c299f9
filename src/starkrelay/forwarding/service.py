"""The forwarding worker as a background part of a process (the app wires it in).

The consumer name is stable per host and process role (``<hostname>-serve``,
``<hostname>-worker``) or ``FORWARD_CONSUMER_NAME``, so a restarted process re-reads its own
pending entries first; entries of a process that never comes back are claimed by the others
after ``FORWARD_CLAIM_IDLE_SECONDS``. Never random: a new name per start would strand the
previous start's pending entries until they go idle. With ``FORWARD_CONCURRENCY`` above 1
the process runs that many consumers, ``<name>``, ``<name>.2``, ...: each reads and forwards
batches of its own, exactly as that many processes would.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay.bank import BankGateway
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, redis_hint
from starkrelay.core.supervision import Heartbeat, every, retry_startup
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.stream_state import trim_acknowledged
from starkrelay.forwarding.transfers import Destination
from starkrelay.forwarding.worker import ForwardingWorker, WorkerConfig

log = structlog.get_logger(__name__)

TRIM_SECONDS = 5.0


def consumer_name(settings: Settings, role: str) -> str:
    """This process's consumer name: ``FORWARD_CONSUMER_NAME`` if set, else
    ``<hostname>-<role>``. The same after a restart; different per host and per role, so
    ``serve`` and ``worker`` on one host never share one. Two processes of the same role on
    one host must each set ``FORWARD_CONSUMER_NAME``."""
    return settings.forward_consumer_name or f"{socket.gethostname()}-{role}"


def consumer_names(settings: Settings, role: str) -> list[str]:
    """The consumers of this process, one per ``FORWARD_CONCURRENCY``: ``consumer_name``
    first, then ``<name>.2``, ``<name>.3``, ... (each as stable as the first)."""
    name = consumer_name(settings, role)
    return [name] + [f"{name}.{n}" for n in range(2, settings.forward_concurrency + 1)]


def build_worker(
    store: Store,
    bank: BankGateway,
    settings: Settings,
    name: str,
    read_turn: anyio.Lock | None = None,
) -> ForwardingWorker:
    """A worker consuming as ``name`` (see ``consumer_name``), configured by ``settings``;
    the consumers of one process share ``read_turn``."""
    return ForwardingWorker(
        store,
        bank,
        Destination.from_settings(settings),
        WorkerConfig.from_settings(settings),
        name,
        read_turn,
    )


async def trim(store: Store) -> None:
    """Drop acknowledged entries from the forward stream (every ``TRIM_SECONDS``, beside the
    worker); Redis errors are left for the next trim."""
    try:
        await trim_acknowledged(store)
    except RedisError as exc:
        log.debug("forwarding.trim.unavailable", error=str(exc))


@asynccontextmanager
async def forwarding_worker(
    workers: Sequence[ForwardingWorker], startup: RetryPolicy, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Background part: run ``workers`` (the consumers of ``consumer_names``) until exit.

    Start-up (on enter) creates the consumer group, retried while Redis is unreachable or
    refuses us (``startup``); ``heartbeat`` is beaten each time every worker has finished a
    round since its last beat (one stuck worker makes the part stale), and the stream is
    trimmed every ``TRIM_SECONDS``. If a worker's loop ends on its own the part raises, so the
    process stops. On exit each worker finishes the batch in hand (its entries are acked or
    stay pending for the next start)."""
    beats = heartbeat or Heartbeat("forwarding_worker")
    store = workers[0].store
    await retry_startup(
        lambda: ensure_group(store),
        part=beats,
        policy=startup,
        retry_on=(RedisError,),
        what="forward stream consumer group",
        hint=redis_hint,
    )
    stop = anyio.Event()
    rounds: set[int] = set()

    async def forward_until_stopped(n: int, worker: ForwardingWorker) -> None:
        def beat() -> None:
            rounds.add(n)
            if len(rounds) == len(workers):
                rounds.clear()
                beats.beat()

        await worker.run(stop, beat=beat)
        if not stop.is_set():
            raise RuntimeError(f"the forwarding worker {worker.name}'s loop ended on its own")

    async with every(TRIM_SECONDS, partial(trim, store)), anyio.create_task_group() as tasks:
        for n, worker in enumerate(workers):
            tasks.start_soon(forward_until_stopped, n, worker)
        try:
            yield
        finally:
            stop.set()
