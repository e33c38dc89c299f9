"""The pause switch against the emulator: during a burst with two running workers nothing is
created once the pause is acknowledged, a worker restarted while paused stays paused, and
resuming sends every waiting forward exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import pytest
import starkbank
from tests.support.relay_harness import (
    Relay,
    await_for,
    credit_invoices,
    enqueue_credited,
    forward_all,
    relay_context,
)

from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.forwarding import pause
from starkrelay.forwarding.outflow import OutflowConfig
from starkrelay.forwarding.reader import Entry
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.forwarding.worker import ForwardingWorker
from starkrelay.ledger import FORWARD_GROUP, reads

pytestmark = pytest.mark.anyio

AMOUNT = 1_000


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"initial_balance": 10**9, "pay_share": 0.0},
        forward_batch_size=10,
    ) as r:  # fmt: skip
        yield r


def transfers() -> Counter[str]:
    return Counter(str(t.external_id) for t in starkbank.transfer.query())


async def transfers_now() -> Counter[str]:
    return await anyio.to_thread.run_sync(transfers)


@dataclass
class Running:
    """A worker's loop running in the test's event loop, and the rounds it went through."""

    worker: ForwardingWorker
    stop: anyio.Event = field(default_factory=anyio.Event)
    rounds: int = 0

    def beat(self) -> None:
        self.rounds += 1


@asynccontextmanager
async def running(relay: Relay, services: Services, name: str) -> AsyncIterator[Running]:
    loop = Running(relay.worker(services, name))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(loop.worker.run, loop.stop, loop.beat)
        try:
            yield loop
        finally:
            loop.stop.set()


async def rounds_go_by(*loops: Running, count: int = 3) -> None:
    """Until each loop went through `count` more rounds (paused rounds wait 0.25 s each)."""
    marks = [loop.rounds + count for loop in loops]

    async def done() -> bool:
        return all(loop.rounds >= mark for loop, mark in zip(loops, marks, strict=True))

    await await_for(done, within=10, what="worker rounds")


async def test_a_pause_during_a_burst_stops_every_create_and_resume_sends_each_once(
    relay: Relay,
) -> None:
    ids = credit_invoices(relay.sb, [AMOUNT + n for n in range(150)])
    relay.sb.set_faults(api_latency=0.03)  # creates take a while: the pause lands mid-create

    relay.sb.set_faults(api_latency=0.0)
    async with relay.services() as a, relay.services() as b:
        for n, invoice_id in enumerate(ids):
            await enqueue_credited(a, invoice_id, AMOUNT + n)
        async with running(relay, a, "worker-a") as one, running(relay, b, "worker-b") as two:

            async def some_sent() -> bool:
                return len(await transfers_now()) >= 20

            await await_for(some_sent, within=20, what="the burst to start")
            assert await pause.pause(a.store, "test:operator", "drill")
            state = await pause.wait_acknowledged(a.store, within=20)
            assert state.acknowledged
            at_ack = await transfers_now()
            await rounds_go_by(one, two)
            assert one.worker.paused
            assert two.worker.paused
            assert await transfers_now() == at_ack  # nothing created after the ack
            assert len(at_ack) < len(ids)  # forwards wait...
            waiting = (await stream_state(a.store)).depth
            assert waiting == len(ids) - len(at_ack)  # ...none lost, none acknowledged

            # worker-a restarts while paused: it reads the flag first and stays paused
            one.stop.set()
            async with running(relay, b, "worker-a") as again:
                await rounds_go_by(again, two)
                assert again.worker.paused
                assert await transfers_now() == at_ack

                assert await pause.resume(b.store, "test:operator")

                async def all_sent() -> bool:
                    return len(await transfers_now()) == len(ids)

                await await_for(all_sent, within=30, what="every waiting forward")
                await await_for(lambda: _drained(a), within=10, what="the stream drained")
        sent = await transfers_now()
        assert set(sent) == {f"invoice-{i}" for i in ids}
        assert set(sent.values()) == {1}
        log = await pause.pause_log(a.store)
        assert [(e["action"], e["by"]) for e in log] == [
            ("resume", "test:operator"), ("pause", "test:operator")
        ]  # fmt: skip


async def _drained(services: Services) -> bool:
    return (await stream_state(services.store)).depth == 0


async def test_a_pause_right_before_the_create_creates_nothing_and_keeps_the_entries(
    redis_url: str, key_prefix: str
) -> None:
    """With a daily limit set, the forwards counted before the pause stay counted (once)."""
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"initial_balance": 10**9, "pay_share": 0.0}, forward_daily_limit=10**9,
    ) as relay:  # fmt: skip
        await _pause_before_the_create(relay)


async def _pause_before_the_create(relay: Relay) -> None:
    ids = credit_invoices(relay.sb, [AMOUNT] * 3)

    async with relay.services() as s:
        for invoice_id in ids:
            await enqueue_credited(s, invoice_id, AMOUNT)
        worker = relay.worker(s)
        send = worker._send

        async def pause_then_send(live: list[Entry]) -> bool:
            await pause.pause(s.store, "test:operator")  # after the ownership read
            return await send(live)

        worker._send = pause_then_send  # type: ignore[method-assign]
        assert await worker.step(block=False) is False  # paused: nothing settled
        assert await transfers_now() == Counter()
        pending = await s.store.redis.xpending_range(
            s.store.keys.forward_stream(), FORWARD_GROUP, min="-", max="+", count=10
        )
        assert [p["times_delivered"] for p in pending] == [0, 0, 0]  # forgiven
        assert await worker.step(block=False) is False  # still paused: reads nothing
        worker._send = send  # type: ignore[method-assign]
        await pause.resume(s.store, "test:operator")
        await forward_all(worker, s)
        sent = await transfers_now()
        assert len(sent) == 3
        assert set(sent.values()) == {1}
        config = OutflowConfig.from_settings(s.settings)
        day = await reads.day_budget(s.store, config.day(time.time()))
        assert (day.used, day.count, day.confirmed_count) == (3 * 950, 3, 3)  # once each


async def test_while_paused_webhooks_and_reconciliation_go_on_without_duplicates(
    relay: Relay,
) -> None:
    ids = credit_invoices(relay.sb, [AMOUNT] * 4)

    async with relay.services() as s:
        assert await pause.pause(s.store, "cli:ops@host", "incident")
        assert not await pause.pause(s.store, "api:10.0.0.9")  # already paused
        state = await pause.pause_state(s.store)
        assert (state.by, state.reason, state.acknowledged) == (
            "cli:ops@host",
            "incident",
            True,
        )
        for invoice_id in ids[:2]:  # webhooks still arrive and are taken
            await enqueue_credited(s, invoice_id, AMOUNT)
        report = await run_reconciliation(s)  # enqueues only what no webhook brought
        assert report.enqueued_missing == 2
        again = await run_reconciliation(s)
        assert again.enqueued_missing == 0
        assert (await stream_state(s.store)).depth == 4
        assert await relay.worker(s).step(block=False) is False
        assert await transfers_now() == Counter()
        assert await pause.resume(s.store, "cli:ops@host")
        assert not await pause.resume(s.store, "cli:ops@host")
        await forward_all(relay.worker(s), s)
        sent = await transfers_now()
        assert len(sent) == 4
        assert set(sent.values()) == {1}
        log = await pause.pause_log(s.store)
        assert [e["action"] for e in log] == ["resume", "pause"]  # one of each recorded


async def test_a_create_in_flight_holds_the_acknowledgement_until_it_returns(
    redis_url: str, key_prefix: str
) -> None:
    """The pause is acknowledged only once no create is in flight; a mark left by a worker
    that died mid-create stops counting when it expires."""
    with relay_context(redis_url, key_prefix, serve=False) as relay:
        async with relay.services() as s:
            assert await pause.enter_create(s.store, "w:1", ttl=30)
            assert await pause.enter_create(s.store, "w:dead", ttl=0.2)
            await pause.pause(s.store, "test:operator")
            assert not await pause.enter_create(s.store, "w:2", ttl=30)
            state = await pause.wait_acknowledged(s.store, within=0)
            assert (state.paused, state.in_flight, state.acknowledged) == (True, 2, False)

            async def leave() -> None:
                await asyncio.sleep(0.05)
                await pause.leave_create(s.store, "w:1")

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(leave)
                state = await pause.wait_acknowledged(s.store, within=5)
            assert state.acknowledged
            assert state.in_flight == 0
