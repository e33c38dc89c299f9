"""The console's lists over a real Redis written by the real ledger scripts and intake: pages
newest first with a cursor that rows written meanwhile never shift, the stage filter's bounded
look, the campaign slot filter, deliveries and operator actions."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from starkrelay import ledger
from starkrelay.console import listing
from starkrelay.console.listing import (
    CursorRefused,
    delivery_page,
    invoice_page,
    slot_invoices,
    slot_map,
    stream_page,
)
from starkrelay.core.store import Keys, Redis, Store
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.issuance import SlotOutcome
from starkrelay.ledger import Evidence, Settlement, Stage
from starkrelay.ledger.identity import ForwardItem
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, take_event

pytestmark = pytest.mark.anyio

Body = Callable[[Redis, Keys], Awaitable[None]]


async def credit(store: Store, invoice_id: str, now: float) -> None:
    item = ForwardItem(invoice_id, 4_950, 5_000, 50)
    code, _ = await ledger.intake(
        store, event_id=None, event_ttl_seconds=0, action="forward",
        invoice_id=invoice_id, now=now, stream_fields=item.to_fields(),
    )  # fmt: skip
    assert code is ledger.IntakeCode.ENQUEUED


async def forwarded(store: Store, invoice_id: str) -> None:
    fields = {"amount": 4_950, "gross_amount": 5_000, "fee": 50,
              "transfer:0": f"t{invoice_id}", "transfer_status:0": "success"}  # fmt: skip
    step = Settlement("", invoice_id, 0, Stage.SUCCESS, Evidence.OUR_TRANSFER, 4_950,
                      time.time(), fields)  # fmt: skip
    [done] = await ledger.settle(store, [step])
    assert done.moved


async def test_invoice_pages_newest_first_and_a_cursor_rows_never_shift(store: Store) -> None:
    for n in range(25):
        await credit(store, f"i{n:02d}", 1_000.0 + n)
    await forwarded(store, "i24")
    # a late delivery of an earlier log keeps its type in the ledger: the stage decides
    await ledger.note(store, "i24", {"transfer_status:0": "processing"})
    first = await invoice_page(store, count=10)
    assert [row.invoice_id for row in first.rows] == [f"i{n:02d}" for n in range(24, 14, -1)]
    top = first.rows[0]
    assert (top.stage, top.net, top.gross_amount, top.fee) == ("success", 4_950, 5_000, 50)
    assert (top.transfer_id, top.transfer_status, top.first_seen) == ("ti24", "success", 1024)
    assert first.next_cursor == "i15"
    await credit(store, "newest", 2_000.0)  # written between two page loads
    second = await invoice_page(store, before=first.next_cursor, count=10)
    third = await invoice_page(store, before=second.next_cursor, count=10)
    seen = [r.invoice_id for page in (first, second, third) for r in page.rows]
    assert seen == [f"i{n:02d}" for n in range(24, -1, -1)]
    assert third.next_cursor is None
    with pytest.raises(CursorRefused):
        await invoice_page(store, before="never-indexed")


async def test_the_stage_filter_looks_at_a_bounded_number_of_invoices(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        await credit(store, f"i{n:02d}", 1_000.0 + n)
    for n in (1, 2, 27):
        await forwarded(store, f"i{n:02d}")
    page = await invoice_page(store, stage="success", count=2)
    assert [r.invoice_id for r in page.rows] == ["i27", "i02"]
    assert page.next_cursor == "i02"
    assert not page.budget_spent
    rest = await invoice_page(store, stage="success", before="i02", count=2)
    assert ([r.invoice_id for r in rest.rows], rest.next_cursor) == (["i01"], None)
    monkeypatch.setattr(listing, "SCAN_BUDGET", 10)
    bounded = await invoice_page(store, stage="success", count=5)
    assert [r.invoice_id for r in bounded.rows] == ["i27"]
    assert (bounded.examined, bounded.budget_spent, bounded.next_cursor) == (10, True, "i20")
    on = await invoice_page(store, stage="success", before="i20", count=5)
    assert on.examined == 10
    assert on.rows == []
    last = await invoice_page(store, stage="success", before=on.next_cursor, count=5)
    assert [r.invoice_id for r in last.rows] == ["i02", "i01"]
    assert (last.next_cursor, last.budget_spent) == (None, False)


async def test_a_slot_shows_its_invoices_credited_or_not(store: Store) -> None:
    campaign = Campaign("c1", t0=1_000.0, interval=10.0, slots=2, grace=5.0)
    await store.redis.set(store.keys.campaign(), campaign.to_json())
    outcome = SlotOutcome(1, "issued", 1_010.0, ("a", "b", "unpaid"))
    await store.redis.hset(store.keys.campaign_slots("c1"), "1", outcome.to_json())
    await credit(store, "a", 1_011.0)
    await credit(store, "b", 1_012.0)
    await credit(store, "elsewhere", 1_013.0)
    await forwarded(store, "a")
    slots = await slot_map(store)
    assert (slots.slots, slots.by_invoice) == (1, {"a": 1, "b": 1, "unpaid": 1})
    rows = await slot_invoices(store, campaign, 1)
    assert [(r.invoice_id, r.stage, r.slot) for r in rows] == [
        ("b", "queued", 1), ("a", "success", 1), ("unpaid", None, 1)
    ]  # fmt: skip
    assert [r.invoice_id for r in await slot_invoices(store, campaign, 1, "success")] == ["a"]
    assert await slot_invoices(store, campaign, 0) == []
    page = await invoice_page(store, slots=slots.by_invoice)
    assert [(r.invoice_id, r.slot) for r in page.rows] == [
        ("elsewhere", None), ("b", 1), ("a", 1)
    ]  # fmt: skip


async def test_deliveries_page_newest_first(store: Store) -> None:
    policy = IntakePolicy(replay_window_seconds=3600)
    for n in range(5):
        now = datetime.now(UTC).isoformat()
        event = parse_event({
            "id": f"e{n}", "created": now, "subscription": "invoice",
            "log": {"id": f"l{n}", "created": now, "type": "credited",
                    "invoice": {"id": f"i{n % 2}", "amount": 5_000, "fee": 50}},
        })  # fmt: skip
        await take_event(store, event, policy)
    first = await delivery_page(store, None, count=3)
    assert [(r.event_id, r.invoice_id) for r in first.rows] == [
        ("e4", "i0"), ("e3", "i1"), ("e2", "i0")
    ]  # fmt: skip
    assert [r.outcome for r in first.rows] == ["already_enqueued"] * 3
    assert (first.rows[0].subscription, first.rows[0].log_type) == ("invoice", "credited")
    rest = await delivery_page(store, first.next_cursor, count=3)
    assert [(r.event_id, r.outcome) for r in rest.rows] == [
        ("e1", "enqueued"), ("e0", "enqueued")
    ]  # fmt: skip
    assert rest.next_cursor is None
    with pytest.raises(CursorRefused):
        await stream_page(store.redis, store.keys.webhook_delivery_log(), "not-an-id", 3)
