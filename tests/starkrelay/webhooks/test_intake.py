"""take_event against a real Redis: one claim, one enqueue, ledger stages only move forward."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from starkrelay.store import Keys, Redis, connect
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

POLICY = IntakePolicy(replay_window_seconds=3600)
T = TypeVar("T")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def invoice_event(event_id: str, invoice_id: str, log_type: str = "credited", **inv: Any) -> Any:
    snapshot = {"id": invoice_id, "amount": 1000, "fee": 25} | inv
    return parse_event(
        {
            "id": event_id,
            "created": now_iso(),
            "subscription": "invoice",
            "log": {"id": f"l{event_id}", "created": now_iso(), "type": log_type,
                    "invoice": snapshot},
        }
    )  # fmt: skip


def transfer_event(event_id: str, external_id: str, log_type: str) -> Any:
    return parse_event(
        {
            "id": event_id,
            "created": now_iso(),
            "subscription": "transfer",
            "log": {"id": f"l{event_id}", "created": now_iso(), "type": log_type, "errors": [],
                    "transfer": {"id": "t1", "amount": 975, "externalId": external_id}},
        }
    )  # fmt: skip


def with_redis(redis_url: str, body: Callable[[Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        redis = connect(redis_url)
        try:
            return await body(redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def test_credited_event_is_enqueued_once_in_a_row(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    event = invoice_event("1", "100")

    async def body(redis: Redis) -> None:
        assert await take_event(redis, keys, event, POLICY) is Outcome.ENQUEUED
        assert await take_event(redis, keys, event, POLICY) is Outcome.DUPLICATE
        entries = await redis.xrange(keys.forward_stream())
        assert len(entries) == 1
        assert entries[0][1]["amount"] == "975"
        assert entries[0][1]["invoice_id"] == "100"
        ledger = await redis.hgetall(keys.webhook_ledger("100"))
        assert ledger["stage"] == "queued"
        assert ledger["gross_amount"] == "1000"
        assert await redis.hget(keys.ledger_stages(), "queued") == "1"
        assert await redis.ttl(keys.event_claim("1")) >= 3600

    with_redis(redis_url, body)


def test_concurrent_deliveries_enqueue_once(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    event = invoice_event("2", "200")

    async def body(redis: Redis) -> None:
        deliveries = (take_event(redis, keys, event, POLICY) for _ in range(25))
        outcomes = await asyncio.gather(*deliveries)
        assert outcomes.count(Outcome.ENQUEUED) == 1
        assert outcomes.count(Outcome.DUPLICATE) == 24
        assert await redis.xlen(keys.forward_stream()) == 1

    with_redis(redis_url, body)


def test_two_events_for_one_credit_enqueue_once(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)

    async def body(redis: Redis) -> None:
        first = await take_event(redis, keys, invoice_event("3", "300"), POLICY)
        second = await take_event(redis, keys, invoice_event("4", "300"), POLICY)
        assert (first, second) == (Outcome.ENQUEUED, Outcome.ALREADY_ENQUEUED)
        assert await redis.xlen(keys.forward_stream()) == 1

    with_redis(redis_url, body)


def test_non_positive_net_is_recorded_not_sent(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)

    async def body(redis: Redis) -> None:
        event = invoice_event("5", "500", amount=25, fee=25)
        assert await take_event(redis, keys, event, POLICY) is Outcome.RECORDED
        assert await redis.exists(keys.forward_stream()) == 0
        ledger = await redis.hgetall(keys.webhook_ledger("500"))
        assert ledger["stage"] == "skipped"
        assert ledger["amount"] == "0"

    with_redis(redis_url, body)


def test_transfer_logs_move_the_ledger_forward_only(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)

    async def body(redis: Redis) -> None:
        await take_event(redis, keys, invoice_event("6", "600"), POLICY)
        # success arrives before "created": the late "created" must not move it back
        await take_event(redis, keys, transfer_event("7", "invoice-600", "success"), POLICY)
        await take_event(redis, keys, transfer_event("8", "invoice-600", "created"), POLICY)
        ledger = await redis.hgetall(keys.webhook_ledger("600"))
        assert ledger["stage"] == "success"
        assert ledger["transfer_status:0"] == "created"  # raw log field, stage unaffected
        stages = await redis.hgetall(keys.ledger_stages())
        assert stages == {"queued": "0", "success": "1"}
        other = transfer_event("9", "someone-elses-id", "success")
        assert await take_event(redis, keys, other, POLICY) is Outcome.IGNORED

    with_redis(redis_url, body)


def test_other_invoice_logs_update_the_ledger(redis_url: str, key_prefix: str) -> None:
    keys = Keys(key_prefix)

    async def body(redis: Redis) -> None:
        event = invoice_event("10", "1000", log_type="paid")
        assert await take_event(redis, keys, event, POLICY) is Outcome.RECORDED
        ledger = await redis.hgetall(keys.webhook_ledger("1000"))
        assert "log:paid" in ledger
        assert "stage" not in ledger

    with_redis(redis_url, body)
