"""The limits' scripts against a real Redis: count or hold in one step, two racers never both
slip under a limit, a redelivery reuses its count, confirm and release follow the ledger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from starkrelay.core.store import Store, connect
from starkrelay.ledger import FORWARD_GROUP, Evidence, Move, MoveOutcome, Stage, move, reads
from starkrelay.ledger.budget import (
    LimitCode,
    Limits,
    Reservation,
    Settled,
    reserve,
    seed,
    seeded,
    settle_reservations,
)
from starkrelay.ledger.steps import IntakeCode, intake

pytestmark = pytest.mark.anyio

DAY, HOUR = "2030-01-02", "2030-01-02T10"


async def enqueue(store: Store, invoice_id: str, amount: int = 950) -> str:
    fields = {"invoice_id": invoice_id, "amount": str(amount), "gross_amount": str(amount + 50),
              "fee": "50"}  # fmt: skip
    code, entry = await intake(
        store, event_id=None, event_ttl_seconds=0, action="forward",
        invoice_id=invoice_id, now=time.time(), stream_fields=fields,
    )  # fmt: skip
    assert code is IntakeCode.ENQUEUED
    return entry


def reservation(entry: str, invoice_id: str, amount: int = 950, attempt: int = 0) -> Reservation:
    return Reservation(entry, invoice_id, attempt, amount, time.time(), {"amount": amount})


async def ledger_of(store: Store, invoice_id: str) -> dict[str, Any]:
    return dict(await store.redis.hgetall(store.keys.webhook_ledger(invoice_id)))


async def pending(store: Store) -> int:
    summary = await store.redis.xpending(store.keys.forward_stream(), FORWARD_GROUP)
    return int(summary["pending"])


async def test_a_forward_is_counted_or_held_in_one_step(store: Store) -> None:
    await store.redis.xgroup_create(
        store.keys.forward_stream(), FORWARD_GROUP, id="0", mkstream=True
    )
    entries = [await enqueue(store, f"i{n}") for n in range(3)]
    await store.redis.xreadgroup(FORWARD_GROUP, "w", {store.keys.forward_stream(): ">"})
    limits = Limits(daily_limit=2_000)
    done = await reserve(
        store, limits, DAY, HOUR,
        [reservation(e, f"i{n}") for n, e in enumerate(entries)],
    )  # fmt: skip
    assert [d.code for d in done] == [LimitCode.RESERVED, LimitCode.RESERVED, LimitCode.HELD]
    assert done[0].detail == f"{DAY}|{HOUR}|950"
    assert done[2].detail == "daily_limit"
    assert await reads.day_budget(store, DAY) == reads.DayBudget(1_900, 2, 0, 0)
    assert await reads.hour_count(store, HOUR) == 2
    held = await ledger_of(store, "i2")
    assert (held["stage"], held["evidence"], held["held_reason"]) == (
        "held", "limit", "daily_limit"
    )  # fmt: skip
    assert await pending(store) == 2  # the held entry was acknowledged
    assert [h.invoice_id for h in await reads.list_held(store)] == ["i2"]
    assert await reads.held_cents(store) == 950
    assert (await store.redis.hgetall(store.keys.ledger_stages()))["held"] == "1"

    # a redelivery of a counted attempt reuses its count, of a held one sends nothing
    again = await reserve(
        store, limits, "2030-01-03", "2030-01-03T00",
        [reservation(entries[0], "i0"), reservation(entries[2], "i2")],
    )  # fmt: skip
    assert [(a.code, a.detail) for a in again] == [
        (LimitCode.RESERVED, f"{DAY}|{HOUR}|950"),
        (LimitCode.NOT_SENDABLE, "held"),
    ]
    assert await reads.day_budget(store, "2030-01-03") == reads.DayBudget()


async def test_two_racers_never_both_slip_under_the_limit(store: Store, redis_url: str) -> None:
    """Forty reservations from four connections at once against a budget for ten."""
    entries = [await enqueue(store, f"r{n}", amount=100) for n in range(40)]
    clients = [connect(redis_url) for _ in range(4)]
    try:
        limits = Limits(daily_limit=1_000, hourly_count=25)
        batches = await asyncio.gather(
            *(
                reserve(
                    Store(client, store.keys),
                    limits,
                    DAY,
                    HOUR,
                    [reservation(entries[n], f"r{n}", 100) for n in range(c, 40, 4)],
                )
                for c, client in enumerate(clients)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    codes = [d.code for batch in batches for d in batch]
    assert codes.count(LimitCode.RESERVED) == 10
    assert codes.count(LimitCode.HELD) == 30
    assert (await reads.day_budget(store, DAY)).used == 1_000
    assert await reads.held_count(store) == 30


async def test_each_limit_holds_with_its_reason_and_an_approved_forward_passes(
    store: Store,
) -> None:
    entries = [await enqueue(store, f"x{n}", amount=500) for n in range(4)]
    limits = Limits(max_amount=400, hourly_count=1)
    [big] = await reserve(store, limits, DAY, HOUR, [reservation(entries[0], "x0", 500)])
    assert (big.code, big.detail) == (LimitCode.HELD, "max_amount")
    small = Limits(hourly_count=1)
    first, second = await reserve(
        store, small, DAY, HOUR,
        [reservation(entries[1], "x1", 500), reservation(entries[2], "x2", 500)],
    )  # fmt: skip
    assert (first.code, second.code, second.detail) == (
        LimitCode.RESERVED, LimitCode.HELD, "hourly_count"
    )  # fmt: skip
    # a person approves x0: the same attempt goes back to the stream, past every limit
    outcome, entry = await move(
        store,
        Move("x0", [Stage.HELD], 0, Stage.QUEUED, 0, Evidence.APPROVAL, time.time(),
             stream_fields={"invoice_id": "x0", "amount": "500", "gross_amount": "550",
                            "fee": "50"},
             ledger_fields={"approved_at": time.time(), "approved_by": "test"}),
    )  # fmt: skip
    assert outcome is MoveOutcome.MOVED
    [approved] = await reserve(store, limits, DAY, HOUR, [reservation(entry, "x0", 500)])
    assert approved.code is LimitCode.RESERVED  # counted, never held
    assert await reads.hour_count(store, HOUR) == 2
    assert await reads.held_cents(store) == 500  # x2 only
    # a second approval (another tab) finds it no longer held
    again, _ = await move(
        store,
        Move("x0", [Stage.HELD], 0, Stage.QUEUED, 0, Evidence.APPROVAL, time.time(),
             stream_fields={"invoice_id": "x0", "amount": "500"}),
    )  # fmt: skip
    assert again is MoveOutcome.NOT_AT
    rejected, _ = await move(
        store, Move("x2", [Stage.HELD], 0, Stage.REJECTED, 0, Evidence.APPROVAL, 0.0)
    )
    assert rejected is MoveOutcome.MOVED
    assert await reads.held_count(store) == 0
    assert await reads.held_cents(store) == 0
    [late] = await reserve(store, Limits(), DAY, HOUR, [reservation(entries[2], "x2")])
    assert (late.code, late.detail) == (LimitCode.NOT_SENDABLE, "rejected")
    # a move the table does not have, with the limit's evidence, does nothing
    nothing, detail = await move(
        store, Move("x2", [Stage.REJECTED], 0, Stage.QUEUED, 0, Evidence.APPROVAL, 0.0,
                          stream_fields={"invoice_id": "x2"})
    )  # fmt: skip
    assert (nothing, detail) == (MoveOutcome.NOT_ALLOWED, "rejected>queued")


async def test_a_count_is_confirmed_kept_or_released_from_what_the_ledger_recorded(
    store: Store,
) -> None:
    entries = [await enqueue(store, f"c{n}", amount=300) for n in range(3)]
    done = await reserve(
        store, Limits(daily_limit=10_000), DAY, HOUR,
        [reservation(e, f"c{n}", 300) for n, e in enumerate(entries)],
    )  # fmt: skip
    marks = [(f"c{n}", 0, d.detail) for n, d in enumerate(done)]
    # c0: Stark Bank holds its transfer; c1: still on its way; c2: refused (waiting)
    await store.redis.hset(
        store.keys.webhook_ledger("c0"), items=["transfer:0", "t0", "stage", "sent"]
    )
    await store.redis.hset(store.keys.webhook_ledger("c2"), items=["stage", "waiting"])
    first = await settle_reservations(store, marks)
    assert first == [Settled.CONFIRMED, Settled.KEPT, Settled.RELEASED]
    assert await reads.day_budget(store, DAY) == reads.DayBudget(600, 2, 300, 1)
    assert await reads.hour_count(store, HOUR) == 2
    assert await settle_reservations(store, marks) == [Settled.KEPT] * 3  # idempotent
    assert "budget:0" not in await ledger_of(store, "c2")  # a re-send counts anew


async def test_a_day_is_seeded_once_from_the_listing_keeping_what_is_on_its_way(
    store: Store,
) -> None:
    assert not await seeded(store, DAY)
    # limits off until now: two forwards counted, one confirmed, one on its way
    entries = [await enqueue(store, f"s{n}", amount=400) for n in range(2)]
    done = await reserve(
        store, Limits(), DAY, HOUR,
        [reservation(e, f"s{n}", 400) for n, e in enumerate(entries)],
    )  # fmt: skip
    await store.redis.hset(
        store.keys.webhook_ledger("s0"), items=["transfer:0", "t0", "stage", "sent"]
    )
    await settle_reservations(store, [("s0", 0, done[0].detail)])
    # Stark Bank lists three of today's forwards (one made before counting began)
    started = await seed(store, DAY, HOUR, time.time(), cents=1_200, day_count=3,
                         hour_count=1)  # fmt: skip
    assert started
    assert await seeded(store, DAY)
    assert await reads.day_budget(store, DAY) == reads.DayBudget(1_600, 4, 1_200, 3)
    assert await reads.hour_count(store, HOUR) == 2  # the larger of 2 and 1
    again = await seed(store, DAY, HOUR, time.time(), cents=9_999, day_count=9,
                       hour_count=9)  # fmt: skip
    assert not again
    assert (await reads.day_budget(store, DAY)).used == 1_600
    # Redis lost the day: it starts from the listing alone
    await store.redis.delete(store.keys.forward_budget(DAY), store.keys.forward_budget_hour(HOUR))
    assert await seed(store, DAY, HOUR, time.time(), cents=1_200, day_count=3,
                      hour_count=1)  # fmt: skip
    assert await reads.day_budget(store, DAY) == reads.DayBudget(1_200, 3, 1_200, 3)
