"""The lost-entry re-enqueue script against a real Redis: every guard, then one re-enqueue."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis import exceptions as redis_errors

from starkrelay.store import (
    FORWARD_GROUP,
    Keys,
    RequeueOutcome,
    connect,
    intake_event,
    requeue_lost_entry,
)
from starkrelay.store.ledger import _INTAKE_KEYS, _INTAKE_LUA

FIELDS = {"invoice_id": "77", "amount": "950", "gross_amount": "1000", "fee": "50"}


def test_requeue_only_a_lost_entry_old_enough(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> None:
        redis, keys = connect(redis_url), Keys(key_prefix)
        stream = keys.forward_stream()
        t0 = time.time()

        async def requeue(now: float, attempt: int = 0) -> RequeueOutcome:
            outcome, _ = await requeue_lost_entry(
                redis, keys, invoice_id="77", attempt=attempt, now=now, min_age_seconds=60,
                ledger_ttl_seconds=3600, stream_fields=FIELDS | {"attempt": str(attempt)},
            )  # fmt: skip
            return outcome

        try:
            assert await requeue(t0 + 120) is RequeueOutcome.NOT_QUEUED  # no ledger at all
            code, entry = await intake_event(
                redis, keys, event_id=None, event_ttl_seconds=0, action="forward",
                invoice_id="77", now=t0, ledger_ttl_seconds=3600, stream_fields=FIELDS,
            )  # fmt: skip
            assert code == 1
            assert await redis.hget(keys.webhook_ledger("77"), "entry:0") == entry
            await redis.xgroup_create(stream, FORWARD_GROUP, id="0")

            assert await requeue(t0 + 1) is RequeueOutcome.TOO_RECENT
            assert await requeue(t0 + 120) is RequeueOutcome.IN_STREAM
            assert await requeue(t0 + 120, attempt=1) is RequeueOutcome.NOT_QUEUED
            await redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
            await redis.xdel(stream, entry)  # gone from the stream, still held by consumer c
            assert await requeue(t0 + 120) is RequeueOutcome.PENDING

            await redis.xack(stream, FORWARD_GROUP, entry)
            assert await requeue(t0 + 120) is RequeueOutcome.REQUEUED
            assert await requeue(t0 + 150) is RequeueOutcome.TOO_RECENT  # counts from requeue
            [(new_id, fields)] = await redis.xrange(stream)
            assert fields == FIELDS | {"attempt": "0"}
            ledger = await redis.hgetall(keys.webhook_ledger("77"))
            assert (ledger["entry:0"], ledger["lost_entry:0"]) == (new_id, entry)
            assert (ledger["stage"], ledger["requeues"]) == ("queued", "1")
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_a_refused_intake_leaves_no_event_claim_behind(redis_url: str, key_prefix: str) -> None:
    """A script stopped by an error keeps what it wrote: the claim must not be among it, or
    the event would be refused as a duplicate with nothing done for it."""

    async def scenario() -> None:
        redis, keys = connect(redis_url), Keys(key_prefix)
        bad_calls = [
            {"attempt": "x"},  # not a number
            {"action": "forwards"},  # unknown action
            {"stream_fields": {"a": "1"}, "ledger_fields": {"b": "2"}, "odd": True},
        ]
        try:
            for n, bad in enumerate(bad_calls):
                event_id = f"bad-{n}"
                args: list[str | int] = [60, str(bad.get("action", "forward")), "78"]
                args += [str(bad.get("attempt", 0)), "", time.time(), 3600, "enqueued", 1]
                args += ["invoice_id", "78"] + (["dangling"] if bad.get("odd") else [])
                with pytest.raises(redis_errors.ResponseError, match="intake: "):
                    await redis.eval(
                        _INTAKE_LUA, _INTAKE_KEYS, keys.event_claim(event_id),
                        keys.webhook_ledger("78"), keys.ledger_stages(), keys.ledger_index(),
                        keys.forward_stream(), keys.forward_waiting(), *args,
                    )  # fmt: skip
                assert await redis.exists(keys.event_claim(event_id)) == 0
            assert await redis.exists(keys.webhook_ledger("78"), keys.forward_stream()) == 0
            code, _ = await intake_event(
                redis, keys, event_id="bad-0", event_ttl_seconds=60, action="forward",
                invoice_id="78", now=time.time(), ledger_ttl_seconds=3600,
                stream_fields={"invoice_id": "78"},
            )  # fmt: skip
            assert code == 1  # the same event, sent again well formed, is taken
        finally:
            await redis.aclose()

    asyncio.run(scenario())
