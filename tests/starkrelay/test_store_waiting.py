"""The waiting stage and its index against a real Redis: entering, ranking, leaving once."""

from __future__ import annotations

import asyncio
import time

from starkrelay.store import (
    Keys,
    ReleaseOutcome,
    connect,
    intake_event,
    list_waiting,
    record_waiting_transfer,
    release_waiting,
    waiting_count,
)

FIELDS = {"invoice_id": "88", "amount": "950", "gross_amount": "1000", "fee": "50"}


def test_waiting_enters_the_index_and_leaves_it_exactly_once(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> None:
        redis, keys = connect(redis_url), Keys(key_prefix)
        t0 = time.time()

        async def record(attempt: int, stage: str, now: float) -> None:
            await intake_event(
                redis, keys, event_id=None, event_ttl_seconds=0, action="record",
                invoice_id="88", attempt=attempt, stage=stage, now=now,
                ledger_ttl_seconds=3600, ledger_fields={"amount": 950, "gross_amount": 1000,
                                                       "fee": 50},
            )  # fmt: skip

        async def stage() -> tuple[str, str]:
            found = await redis.hmget(keys.webhook_ledger("88"), "stage", "attempt")
            return str(found[0]), str(found[1])

        try:
            await intake_event(
                redis, keys, event_id=None, event_ttl_seconds=0, action="forward",
                invoice_id="88", now=t0, ledger_ttl_seconds=3600, stream_fields=FIELDS,
            )  # fmt: skip
            await record(0, "failed", t0 + 1)
            await record(0, "waiting", t0 + 2)  # waiting outranks failed in one attempt
            assert await stage() == ("waiting", "0")
            await record(0, "failed", t0 + 3)  # ... and a failed log after it changes nothing
            assert await stage() == ("waiting", "0")
            [waiter] = await list_waiting(redis, keys)
            assert (waiter.invoice_id, waiter.attempt, waiter.amount) == ("88", 0, 950)
            assert abs(waiter.since - (t0 + 2)) < 0.001
            assert (await redis.hgetall(keys.ledger_stages()))["waiting"] == "1"

            stale, _ = await release_waiting(
                redis, keys, invoice_id="88", waiting_attempt=1, attempt=2, now=t0 + 4,
                ledger_ttl_seconds=3600, stream_fields=FIELDS | {"attempt": "2"},
            )  # fmt: skip
            assert stale is ReleaseOutcome.NOT_WAITING  # it waits at attempt 0, not 1
            first, entry = await release_waiting(
                redis, keys, invoice_id="88", waiting_attempt=0, attempt=1, now=t0 + 5,
                ledger_ttl_seconds=3600, stream_fields=FIELDS | {"attempt": "1"},
            )  # fmt: skip
            second, detail = await release_waiting(
                redis, keys, invoice_id="88", waiting_attempt=0, attempt=1, now=t0 + 6,
                ledger_ttl_seconds=3600, stream_fields=FIELDS | {"attempt": "1"},
            )  # fmt: skip
            assert (first, second, detail) == (
                ReleaseOutcome.QUEUED, ReleaseOutcome.NOT_WAITING, "queued:1",
            )  # fmt: skip
            ledger = await redis.hgetall(keys.webhook_ledger("88"))
            assert (ledger["stage"], ledger["attempt"], ledger["entry:1"]) == ("queued", "1", entry)
            assert ledger["balance_resends"] == "1"
            assert await waiting_count(redis, keys) == 0
            stages = await redis.hgetall(keys.ledger_stages())
            assert (stages["waiting"], stages["queued"]) == ("0", "1")
            assert await redis.xlen(keys.forward_stream()) == 2  # the first entry + the re-send

            await record(1, "waiting", t0 + 7)  # the re-send is short again: back in the queue
            [again] = await list_waiting(redis, keys)
            assert abs(again.since - (t0 + 2)) < 0.001  # keeps its place: oldest first
            await record(1, "success", t0 + 8)  # a success leaves the index in the same step
            assert await waiting_count(redis, keys) == 0
            late, _ = await record_waiting_transfer(
                redis, keys, invoice_id="88", waiting_attempt=1, transfer_attempt=1,
                stage="success", now=t0 + 9, ledger_ttl_seconds=3600, ledger_fields={},
            )  # fmt: skip
            assert late is ReleaseOutcome.NOT_WAITING
            assert await stage() == ("success", "1")
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_a_waiting_record_without_amounts_is_not_offered_for_release(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> None:
        redis, keys = connect(redis_url), Keys(key_prefix)
        try:  # a failed log set it waiting after Redis lost the invoice's record
            await intake_event(
                redis, keys, event_id=None, event_ttl_seconds=0, action="record",
                invoice_id="89", attempt=0, stage="waiting", now=time.time(),
                ledger_ttl_seconds=3600,
            )  # fmt: skip
            assert await waiting_count(redis, keys) == 1
            assert await list_waiting(redis, keys) == []
        finally:
            await redis.aclose()

    asyncio.run(scenario())
