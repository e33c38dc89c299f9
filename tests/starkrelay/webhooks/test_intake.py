"""take_event against a real Redis: one claim, one enqueue, ledger stages only move forward."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from starkrelay.core.store import Store
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

pytestmark = pytest.mark.anyio

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


async def test_credited_event_is_enqueued_once_in_a_row(store: Store) -> None:
    event = invoice_event("1", "100")
    assert await take_event(store, event, POLICY) is Outcome.ENQUEUED
    assert await take_event(store, event, POLICY) is Outcome.DUPLICATE
    entries = await store.redis.xrange(store.keys.forward_stream())
    assert len(entries) == 1
    assert entries[0][1]["amount"] == "975"
    assert entries[0][1]["invoice_id"] == "100"
    ledger = await store.redis.hgetall(store.keys.webhook_ledger("100"))
    assert ledger["stage"] == "queued"
    assert "gross_amount" not in ledger  # the body's numbers are a claim, not the record
    assert await store.redis.hget(store.keys.ledger_stages(), "queued") == "1"
    assert await store.redis.ttl(store.keys.event_claim("1")) >= 3600


async def test_concurrent_deliveries_enqueue_once(store: Store) -> None:
    event = invoice_event("2", "200")
    deliveries = (take_event(store, event, POLICY) for _ in range(25))
    outcomes = await asyncio.gather(*deliveries)
    assert outcomes.count(Outcome.ENQUEUED) == 1
    assert outcomes.count(Outcome.DUPLICATE) == 24
    assert await store.redis.xlen(store.keys.forward_stream()) == 1


async def test_two_events_for_one_credit_enqueue_once(store: Store) -> None:
    first = await take_event(store, invoice_event("3", "300"), POLICY)
    second = await take_event(store, invoice_event("4", "300"), POLICY)
    assert (first, second) == (Outcome.ENQUEUED, Outcome.ALREADY_ENQUEUED)
    assert await store.redis.xlen(store.keys.forward_stream()) == 1


async def test_a_credited_events_numbers_are_only_a_claim(store: Store) -> None:
    """Even a body saying nothing is left to forward enqueues the ownership read: the body
    never sets a stage or an amount (the worker's read of our records does)."""
    event = invoice_event("5", "500", amount=25, fee=25)
    assert await take_event(store, event, POLICY) is Outcome.ENQUEUED
    ledger = await store.redis.hgetall(store.keys.webhook_ledger("500"))
    assert (ledger["stage"], ledger["evidence"]) == ("queued", "hint")
    assert "amount" not in ledger


async def test_only_our_recorded_transfer_moves_the_ledger_and_only_forward(store: Store) -> None:
    await take_event(store, invoice_event("6", "600"), POLICY)
    # "success" naming a transfer id we never recorded: a hint for a look-up, no move
    hint = transfer_event("7", "invoice-600", "success")
    assert await take_event(store, hint, POLICY) is Outcome.HINTED
    assert (await store.redis.hgetall(store.keys.webhook_ledger("600")))["stage"] == "queued"
    await store.redis.hset(
        store.keys.webhook_ledger("600"), mapping={"stage": "sent", "transfer:0": "t1"}
    )
    await store.redis.hset(store.keys.ledger_stages(), mapping={"queued": 0, "sent": 1})
    ours = transfer_event("8", "invoice-600", "success")
    assert await take_event(store, ours, POLICY) is Outcome.RECORDED
    # a late "created" of the same transfer does not move it back
    late = transfer_event("9", "invoice-600", "created")
    assert await take_event(store, late, POLICY) is Outcome.NOTED
    ledger = await store.redis.hgetall(store.keys.webhook_ledger("600"))
    assert ledger["stage"] == "success"
    assert ledger["transfer_status:0"] == "success"  # a late log overwrites nothing
    stages = await store.redis.hgetall(store.keys.ledger_stages())
    assert stages == {"queued": "0", "sent": "0", "success": "1"}
    other = transfer_event("10", "someone-elses-id", "success")
    assert await take_event(store, other, POLICY) is Outcome.IGNORED
    foreign = transfer_event("11", "invoice-999", "success")  # never forwarded by us
    assert await take_event(store, foreign, POLICY) is Outcome.FOREIGN
    assert (
        await store.redis.exists(
            store.keys.webhook_ledger("999"), store.keys.webhook_deliveries("999")
        )
        == 0
    )


async def test_other_invoice_logs_update_the_ledger(store: Store) -> None:
    event = invoice_event("10", "1000", log_type="paid")
    assert await take_event(store, event, POLICY) is Outcome.NOTED
    ledger = await store.redis.hgetall(store.keys.webhook_ledger("1000"))
    assert "log:paid" in ledger
    assert "stage" not in ledger
