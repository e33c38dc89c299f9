"""Intake scripts coalesced into one pipeline per event-loop tick, against real Redis.

Each event still runs its own script atomically and gets its own answer: duplicates inside one
tick are caught by the claim, one call's error fails only that call, a lost connection fails
exactly the calls of that pipeline, a flushed script cache is reloaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import RedisError, ResponseError
from test_intake import invoice_event

from starkrelay.core.embedded_redis import embedded_url, start_embedded_valkey
from starkrelay.core.store import Keys, Store, connect, load_deliveries
from starkrelay.core.store.batching import MAX_BATCH, ScriptBatcher
from starkrelay.ledger import intake_batcher
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

pytestmark = pytest.mark.anyio

POLICY = IntakePolicy(replay_window_seconds=3600)

_SET_UNLESS_BOOM = """
if ARGV[1] == 'boom' then return redis.error_reply('boom refused') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


@pytest.fixture
def own_redis() -> Iterator[Any]:
    """A server of this test's own (it is stopped or has its scripts flushed)."""
    server = start_embedded_valkey()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


async def test_many_concurrent_intakes_share_few_pipelines_and_each_is_enqueued_once(
    redis_url: str, key_prefix: str
) -> None:
    count = 600

    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        events = [invoice_event(f"e{n}", f"{1000 + n}") for n in range(count)]
        assert await take_event(store, events[0], POLICY) is Outcome.ENQUEUED
        before = intake_batcher(store).pipelines  # the script is now in Redis's cache
        rest = await asyncio.gather(*(take_event(store, e, POLICY) for e in events[1:]))
        assert rest == [Outcome.ENQUEUED] * (count - 1)
        assert intake_batcher(store).pipelines - before <= -(-(count - 1) // MAX_BATCH)
        entries = await store.redis.xrange(store.keys.forward_stream())
        assert sorted(fields["invoice_id"] for _, fields in entries) == sorted(
            f"{1000 + n}" for n in range(count)
        )
        again = await asyncio.gather(*(take_event(store, e, POLICY) for e in events))
        assert again == [Outcome.DUPLICATE] * count
        assert await store.redis.xlen(store.keys.forward_stream()) == count
        # each delivery was noted on its invoice (also coalesced), the duplicate too
        for n in (0, 299, 599):
            noted = await load_deliveries(store, f"{1000 + n}")
            assert [d["outcome"] for d in noted] == ["enqueued", "duplicate"]
    finally:
        await store.redis.aclose()


async def test_a_duplicate_inside_one_tick_is_enqueued_once(
    redis_url: str, key_prefix: str
) -> None:
    same_event = invoice_event("dup", "2001")
    same_invoice = invoice_event("other_event", "2001")  # another event, the same credit

    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        await take_event(store, invoice_event("warm", "2000"), POLICY)  # loads the script
        before = intake_batcher(store).pipelines
        outcomes = await asyncio.gather(
            take_event(store, same_event, POLICY),
            take_event(store, same_event, POLICY),
            take_event(store, same_invoice, POLICY),
        )
        assert intake_batcher(store).pipelines == before + 1  # one tick, one pipeline
        assert sorted(outcomes) == sorted(
            [Outcome.ENQUEUED, Outcome.DUPLICATE, Outcome.ALREADY_ENQUEUED]
        )
        assert outcomes[0] is not outcomes[1]
        assert (
            await store.redis.xlen(store.keys.forward_stream()) == 2
        )  # the warm-up's and this one
    finally:
        await store.redis.aclose()


async def test_one_calls_error_fails_only_that_call(redis_url: str, key_prefix: str) -> None:
    redis = connect(redis_url)
    try:
        batcher = ScriptBatcher(redis, _SET_UNLESS_BOOM, 1)
        values = [f"v{n}" for n in range(20)]
        values[7] = "boom"
        await batcher.run(f"{key_prefix}:warm", "warm")  # loads the script if needed
        before = batcher.pipelines  # 1, or 2 when Redis had to be sent the script
        results = await asyncio.gather(
            *(batcher.run(f"{key_prefix}:k{n}", v) for n, v in enumerate(values)),
            return_exceptions=True,
        )
        assert batcher.pipelines == before + 1  # this tick's
        assert isinstance(results[7], ResponseError)
        assert "boom refused" in str(results[7])
        assert [r for n, r in enumerate(results) if n != 7] == [
            v for n, v in enumerate(values) if n != 7
        ]
        assert await redis.get(f"{key_prefix}:k7") is None
        assert await redis.get(f"{key_prefix}:k8") == "v8"
    finally:
        await redis.aclose()


async def test_an_intake_whose_ledger_is_broken_fails_alone(
    redis_url: str, key_prefix: str
) -> None:

    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        await store.redis.set(store.keys.webhook_ledger("3003"), "not a hash")
        events = [invoice_event(f"b{n}", f"{3000 + n}") for n in range(6)]
        results = await asyncio.gather(
            *(take_event(store, e, POLICY) for e in events), return_exceptions=True
        )
        assert isinstance(results[3], ResponseError)  # the route answers 503 for it alone
        assert [r for n, r in enumerate(results) if n != 3] == [Outcome.ENQUEUED] * 5
        entries = await store.redis.xrange(store.keys.forward_stream())
        assert sorted(f["invoice_id"] for _, f in entries) == [
            "3000", "3001", "3002", "3004", "3005"
        ]  # fmt: skip
    finally:
        await store.redis.aclose()


async def test_a_cancelled_caller_does_not_cancel_the_others(
    redis_url: str, key_prefix: str
) -> None:

    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        events = [invoice_event(f"c{n}", f"{4000 + n}") for n in range(10)]
        tasks = [asyncio.create_task(take_event(store, e, POLICY)) for e in events]
        await asyncio.sleep(0)  # every task has queued its call
        tasks[4].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[4], asyncio.CancelledError)
        assert [r for n, r in enumerate(results) if n != 4] == [Outcome.ENQUEUED] * 9
        # the cancelled caller's script was already sent: its event is claimed and queued
        again = await take_event(store, events[4], POLICY)
        assert again is Outcome.DUPLICATE
        assert await store.redis.xlen(store.keys.forward_stream()) == 10
    finally:
        await store.redis.aclose()


async def test_a_flushed_script_cache_is_reloaded_once(own_redis: Any) -> None:

    store = Store(connect(embedded_url(own_redis)), Keys("flush"))
    try:
        first = await take_event(store, invoice_event("f0", "5000"), POLICY)
        assert first is Outcome.ENQUEUED
        await store.redis.script_flush()
        events = [invoice_event(f"f{n}", f"{5000 + n}") for n in range(1, 30)]
        outcomes = await asyncio.gather(*(take_event(store, e, POLICY) for e in events))
        assert outcomes == [Outcome.ENQUEUED] * 29
        assert await store.redis.xlen(store.keys.forward_stream()) == 30
    finally:
        await store.redis.aclose()


async def test_a_lost_connection_fails_exactly_that_pipelines_calls(own_redis: Any) -> None:

    store = Store(connect(embedded_url(own_redis), timeout=1.0), Keys("lost"))
    try:
        early = [invoice_event(f"l{n}", f"{6000 + n}") for n in range(5)]
        done = await asyncio.gather(*(take_event(store, e, POLICY) for e in early))
        assert done == [Outcome.ENQUEUED] * 5
        own_redis.stop()
        late = [invoice_event(f"m{n}", f"{7000 + n}") for n in range(8)]
        results = await asyncio.gather(
            *(take_event(store, e, POLICY) for e in late), return_exceptions=True
        )
        assert all(isinstance(r, RedisError) for r in results), results
    finally:
        await store.redis.aclose()
