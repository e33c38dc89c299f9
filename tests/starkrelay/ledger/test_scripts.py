"""The ledger's scripts against a real Redis: the table decides, every guard holds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis import exceptions as redis_errors

from starkrelay.core.store import Store
from starkrelay.ledger import (
    FORWARD_GROUP,
    Evidence,
    IntakeCode,
    Move,
    MoveOutcome,
    Settlement,
    Stage,
    intake,
    move,
    reads,
    scripts,
    settle,
    steps,
)

pytestmark = pytest.mark.anyio

FIELDS = {"invoice_id": "77", "amount": "950", "gross_amount": "1000", "fee": "50"}


async def enqueue(store: Store, invoice_id: str = "77", now: float = 0.0) -> str:
    code, entry = await intake(
        store, event_id=None, event_ttl_seconds=0, action="forward",
        invoice_id=invoice_id, now=now or time.time(),
        stream_fields=FIELDS | {"invoice_id": invoice_id},
    )  # fmt: skip
    assert code is IntakeCode.ENQUEUED
    return entry


async def ledger_of(store: Store, invoice_id: str = "77") -> dict[str, Any]:
    return dict(await store.redis.hgetall(store.keys.webhook_ledger(invoice_id)))


def requeue_lost(attempt: int, now: float) -> Move:
    return Move(
        "77", [Stage.QUEUED, Stage.SENT], attempt, Stage.QUEUED, attempt, Evidence.LOST_ENTRY,
        now=now, stream_fields=FIELDS | {"attempt": str(attempt)}, lost_entry_min_age=60,
        ledger_counter="requeues",
    )  # fmt: skip


async def test_a_lost_entry_is_enqueued_again_only_when_provably_lost(store: Store) -> None:
    stream, t0 = store.keys.forward_stream(), time.time()

    async def requeue(now: float, attempt: int = 0) -> MoveOutcome:
        outcome, _ = await move(store, requeue_lost(attempt, now))
        return outcome

    assert await requeue(t0 + 120) is MoveOutcome.NOT_AT  # no ledger at all
    entry = await enqueue(store, now=t0)
    assert (await ledger_of(store))["entry:0"] == entry
    await store.redis.xgroup_create(stream, FORWARD_GROUP, id="0")
    assert await requeue(t0 + 1) is MoveOutcome.TOO_RECENT
    assert await requeue(t0 + 120) is MoveOutcome.IN_STREAM
    assert await requeue(t0 + 120, attempt=1) is MoveOutcome.NOT_AT
    await store.redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
    await store.redis.xdel(stream, entry)  # gone from the stream, still held by consumer c
    assert await requeue(t0 + 120) is MoveOutcome.PENDING
    await store.redis.xack(stream, FORWARD_GROUP, entry)
    assert await requeue(t0 + 120) is MoveOutcome.MOVED
    assert await requeue(t0 + 150) is MoveOutcome.TOO_RECENT  # counts from the requeue
    [(new_id, fields)] = await store.redis.xrange(stream)
    assert fields == FIELDS | {"attempt": "0", "enqueued_at": f"{t0 + 120:.6f}"}
    ledger = await ledger_of(store)
    assert (ledger["entry:0"], ledger["lost_entry:0"]) == (new_id, entry)
    assert (ledger["stage"], ledger["requeues"], ledger["evidence"]) == (
        "queued", "1", "lost_entry",
    )  # fmt: skip


async def test_a_refused_intake_leaves_no_event_claim_behind(store: Store) -> None:
    """A script stopped by an error keeps what it wrote: the claim must not be among it, or
    the event would be refused as a duplicate with nothing done for it."""
    bad_calls: list[dict[str, Any]] = [
        {"attempt": "x"},  # not a number
        {"action": "forwards"},  # unknown action
        {"odd": True},  # a dangling field name
    ]
    for n, bad in enumerate(bad_calls):
        event_id = f"bad-{n}"
        args: list[str | int | float] = [60, "enqueued", str(bad.get("action", "forward"))]
        args += ["78", str(bad.get("attempt", 0)), time.time(), 3600, "", "", 1]
        args += ["invoice_id", "78"] + (["dangling"] if bad.get("odd") else [])
        with pytest.raises(redis_errors.ResponseError, match="intake: "):
            await store.redis.eval(
                scripts.INTAKE, len(scripts.KEY_NAMES),
                *steps.script_keys(store.keys, "78", event_id), *args,
            )  # fmt: skip
        assert await store.redis.exists(store.keys.event_claim(event_id)) == 0
    assert (
        await store.redis.exists(store.keys.webhook_ledger("78"), store.keys.forward_stream()) == 0
    )
    code, _ = await intake(
        store, event_id="bad-0", event_ttl_seconds=60, action="forward",
        invoice_id="78", now=time.time(), stream_fields={"invoice_id": "78"},
    )  # fmt: skip
    assert code is IntakeCode.ENQUEUED  # the same event, sent again well formed, is taken


async def transfer_event(
    store: Store, invoice_id: str, transfer_id: str, stage: Stage, attempt: int = 0
) -> IntakeCode:
    code, _ = await intake(
        store, event_id=f"ev-{transfer_id}-{stage}", event_ttl_seconds=60,
        action="transfer", invoice_id=invoice_id, attempt=attempt, now=time.time(),
        transfer_id=transfer_id, transfer_stage=stage,
        ledger_fields={f"transfer_status:{attempt}": str(stage)},
    )  # fmt: skip
    return code


async def test_only_a_transfer_event_naming_our_recorded_id_moves_a_stage(store: Store) -> None:
    # about an invoice we never forwarded: nothing stored but a count
    assert await transfer_event(store, "999", "t-x", Stage.SUCCESS) is IntakeCode.FOREIGN
    assert (
        await store.redis.exists(store.keys.webhook_ledger("999"), store.keys.forward_hints()) == 0
    )
    assert await store.redis.exists(store.keys.event_claim("ev-t-x-success")) == 0
    assert await store.redis.hget(store.keys.forward_counters(), "foreign_events") == "1"

    entry = await enqueue(store)
    # a stranger's transfer with our external id: a hint to look up, nothing moves
    hinted = [
        await transfer_event(store, "77", "t-them", Stage.SUCCESS),
        await transfer_event(store, "77", "t-them", Stage.WAITING, 1),
    ]
    assert hinted == [IntakeCode.HINTED, IntakeCode.HINTED]
    ledger = await ledger_of(store)
    assert (ledger["stage"], ledger["attempt"]) == ("queued", "0")
    assert await store.redis.hgetall(store.keys.forward_hints()) == {"77": "t-them"}
    assert await reads.waiting_count(store) == 0
    # a second id named for the same invoice is kept beside the first, not over it
    assert await transfer_event(store, "77", "t-other", Stage.FAILED) is IntakeCode.HINTED
    assert await store.redis.hgetall(store.keys.forward_hints()) == {"77": "t-them t-other"}
    taken = await reads.take_hints(store)
    assert taken == {"77": ["t-them", "t-other"]}
    await transfer_event(store, "77", "t-later", Stage.SUCCESS)  # while the look-up failed
    await reads.put_hints(store, taken)
    assert await reads.take_hints(store) == {"77": ["t-them", "t-other", "t-later"]}

    # our create's answer: the id is recorded, and the event naming it is taken as read
    [done] = await settle(store, [Settlement(
        entry, "77", 0, Stage.SENT, Evidence.CREATE, 950, time.time(),
        {"transfer:0": "t-ours"},
    )])  # fmt: skip
    assert done.moved
    code = await transfer_event(store, "77", "t-ours", Stage.SUCCESS)
    assert code is IntakeCode.RECORDED
    ledger = await ledger_of(store)
    assert (ledger["stage"], ledger["evidence"]) == ("success", "our_transfer")
    stages = await store.redis.hgetall(store.keys.ledger_stages())
    assert (stages["queued"], stages["sent"], stages["success"]) == ("0", "0", "1")


async def test_a_move_the_table_does_not_have_does_nothing(store: Store) -> None:
    entry = await enqueue(store)
    for target, evidence in [
        (Stage.SUCCESS, Evidence.HINT),  # a hint never closes a forward
        (Stage.SKIPPED, Evidence.CREATE),  # only the ownership read skips
    ]:
        [done] = await settle(store, [Settlement(
            "", "77", 0, target, evidence, 0, time.time(), {},
        )])  # fmt: skip
        assert not done.moved
    outcome, detail = await move(store, Move(
        "77", [Stage.QUEUED], 0, Stage.QUEUED, 1, Evidence.HINT, now=time.time(),
        stream_fields=FIELDS,
    ))  # fmt: skip
    assert (outcome, detail) == (MoveOutcome.NOT_ALLOWED, "queued>queued")
    assert (await ledger_of(store))["stage"] == "queued"
    assert [e for e, _ in await store.redis.xrange(store.keys.forward_stream())] == [entry]


async def test_waiting_enters_the_index_and_leaves_it_exactly_once(store: Store) -> None:
    entry, t0 = await enqueue(store), time.time()
    await settle(store, [Settlement(
        entry, "77", 0, Stage.WAITING, Evidence.CREATE, 950, t0,
        {"amount": 950, "gross_amount": 1000, "fee": 50},
    )])  # fmt: skip
    [waiter] = await reads.list_waiting(store)
    assert (waiter.invoice_id, waiter.attempt, waiter.amount) == ("77", 0, 950)
    assert abs(waiter.since - t0) < 0.001

    def release(expected_attempt: int, attempt: int) -> Move:
        return Move(
            "77", [Stage.WAITING], expected_attempt, Stage.QUEUED, attempt,
            Evidence.BALANCE, now=time.time(), stream_fields=FIELDS,
            counter="items_released", ledger_counter="balance_resends",
        )  # fmt: skip

    assert (await move(store, release(1, 2)))[0] is MoveOutcome.NOT_AT
    releases = await asyncio.gather(*(move(store, release(0, 1)) for _ in range(5)))
    assert sorted(o for o, _ in releases) == [MoveOutcome.NOT_AT] * 4 + [MoveOutcome.MOVED]
    ledger = await ledger_of(store)
    assert (ledger["stage"], ledger["attempt"], ledger["balance_resends"]) == (
        "queued", "1", "1",
    )  # fmt: skip
    assert await reads.waiting_count(store) == 0
    stages = await store.redis.hgetall(store.keys.ledger_stages())
    assert (stages["waiting"], stages["queued"]) == ("0", "1")
    assert await store.redis.hget(store.keys.forward_counters(), "items_released") == "1"
