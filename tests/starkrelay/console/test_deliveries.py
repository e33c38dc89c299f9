"""Every webhook delivery about an invoice is noted for its story, duplicates included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from starkrelay.core.store import DELIVERIES_KEPT, Store, load_deliveries
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

pytestmark = pytest.mark.anyio

POLICY = IntakePolicy(replay_window_seconds=3600)


def credited(event_id: str, invoice_id: str) -> dict[str, object]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return {
        "id": event_id, "created": now, "subscription": "invoice",
        "log": {"id": f"l{event_id}", "created": now, "type": "credited",
                "invoice": {"id": invoice_id, "amount": 5_000, "fee": 50}},
    }  # fmt: skip


def transfer_success(event_id: str, external_id: str) -> dict[str, object]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return {
        "id": event_id, "created": now, "subscription": "transfer",
        "log": {"id": f"l{event_id}", "created": now, "type": "success",
                "transfer": {"id": "t1", "amount": 4_950, "externalId": external_id}},
    }  # fmt: skip


async def test_deliveries_are_noted_in_order_with_their_outcome(store: Store) -> None:
    event = parse_event(credited("e1", "7001"))
    assert await take_event(store, event, POLICY) is Outcome.ENQUEUED
    assert await take_event(store, event, POLICY) is Outcome.DUPLICATE
    other = parse_event(credited("e2", "7001"))
    assert await take_event(store, other, POLICY, source="reconcile") is Outcome.ALREADY_ENQUEUED
    paid = parse_event(transfer_success("e3", "invoice-7001"))
    assert await take_event(store, paid, POLICY) is Outcome.HINTED
    foreign = parse_event(transfer_success("e4", "someone-else"))
    await take_event(store, foreign, POLICY)

    noted = await load_deliveries(store, "7001")
    assert [(d["event_id"], d["outcome"], d["source"]) for d in noted] == [
        ("e1", "enqueued", "webhook"),
        ("e1", "duplicate", "webhook"),
        ("e2", "already_enqueued", "reconcile"),
        ("e3", "hinted", "webhook"),
    ]
    assert noted[0]["at"] <= noted[1]["at"] <= noted[3]["at"]
    assert await store.redis.ttl(store.keys.webhook_deliveries("7001")) > 0
    logged = await store.redis.xrange(store.keys.webhook_delivery_log())
    assert [f["invoice_id"] for _, f in logged] == ["7001"] * 4  # not the foreign one
    assert [json.loads(f["delivery"]) for _, f in logged] == noted
    for _ in range(DELIVERIES_KEPT + 5):
        await take_event(store, event, POLICY)  # duplicates, all noted
    assert len(await load_deliveries(store, "7001")) == DELIVERIES_KEPT
    assert await store.redis.xlen(store.keys.webhook_delivery_log()) == 4 + DELIVERIES_KEPT + 5
