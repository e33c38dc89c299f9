"""XAUTOCLAIM as the reader uses it: the count is the number of entries claimed."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from starkrelay.core.store import Keys, Store, connect
from starkrelay.forwarding.reader import StreamReader, ensure_group
from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("entries", [1, 2, 3, 7])
async def test_autoclaim_counts_every_claimed_entry(
    redis_url: str, key_prefix: str, entries: int
) -> None:
    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        await ensure_group(store)
        stream = store.keys.forward_stream()
        for n in range(entries):
            await store.redis.xadd(stream, {"invoice_id": str(n)})
        await store.redis.xreadgroup(FORWARD_GROUP, "dead", {stream: ">"}, count=100)
        live = StreamReader(store, "live", batch_size=100, claim_idle_seconds=0, block_ms=0)
        assert await live.autoclaim() == entries
        owners = await store.redis.xpending_range(stream, FORWARD_GROUP, "-", "+", 100)
        assert [p["consumer"] for p in owners] == ["live"] * entries
        assert await live.autoclaim() == entries  # idle 0: claimed again, counted again
        empty = StreamReader(store, "other", batch_size=100, claim_idle_seconds=3600, block_ms=0)
        assert await empty.autoclaim() == 0
    finally:
        await store.redis.delete(store.keys.forward_stream())
        await store.redis.aclose()


async def test_consumers_sharing_a_read_turn_read_new_entries_one_at_a_time(store: Store) -> None:
    """While one consumer of a process fills its batch, another waits for the turn instead of
    taking part of the same entries; then it takes what is left."""
    await ensure_group(store)
    stream = store.keys.forward_stream()
    for n in range(10):
        await store.redis.xadd(stream, {"invoice_id": str(n)})
    turn = anyio.Lock()
    first, second = (
        StreamReader(store, name, batch_size=4, claim_idle_seconds=60, block_ms=0, read_turn=turn)
        for name in ("a", "a.2")
    )
    taken: list[int] = []

    async def second_reads() -> None:
        taken.append(len(await second.read_new(block=False)))

    async with anyio.create_task_group() as tasks, turn:  # turn: as while "a" fills its batch
        tasks.start_soon(second_reads)
        await anyio.sleep(0.05)
        assert taken == []
        assert (await store.redis.xpending(stream, FORWARD_GROUP))["pending"] == 0
    assert taken == [4]
    assert len(await first.read_new(block=False)) == 4
    alone = StreamReader(store, "b", batch_size=4, claim_idle_seconds=60, block_ms=0)
    assert alone.read_turn is not turn  # a reader of its own takes turns with no one
    assert len(await alone.read_new(block=False)) == 2


async def test_a_batch_is_not_closed_on_a_gap_the_busy_event_loop_made(store: Store) -> None:
    """The top-up's quiet gap counts only when the reader woke on time: after the loop was
    blocked elsewhere, an empty read is no sign that arrivals stopped."""
    await ensure_group(store)
    stream = store.keys.forward_stream()
    added = [await store.redis.xadd(stream, {"invoice_id": "1"})]
    reader = StreamReader(store, "a", batch_size=10, claim_idle_seconds=60, block_ms=0)
    reader.fill_quiet_seconds = 0.01

    async def busy_then_one_more() -> None:
        await asyncio.sleep(0.002)  # the reader has its first entry and waits for more
        time.sleep(0.05)  # noqa: ASYNC251 (the loop busy elsewhere: the reader wakes late)
        await asyncio.sleep(0.001)  # the late reader's read goes first, and finds nothing
        added.append(await store.redis.xadd(stream, {"invoice_id": "2"}))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(busy_then_one_more)
        batch = await reader.read_new(block=False)
    assert [entry.id for entry in batch] == added
