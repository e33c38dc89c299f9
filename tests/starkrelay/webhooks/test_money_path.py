"""End to end through the emulator: a credited invoice becomes one transfer of amount - fee."""

from __future__ import annotations

from typing import Any

import pytest
import starkbank
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    forward_all,
    forwards_of,
    late,
    stream_length,
)

from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


async def pay_and_forward(relay: Relay, invoice: Any, **pay: Any) -> dict[str, Any]:
    paid = relay.sb.pay_invoice(invoice.id, **pay)
    relay.sb.drain()

    async with relay.services() as services:
        assert await stream_length(services) == 1
        await forward_all(relay.worker(services), services)
    return paid


async def test_net_amount_with_a_fee(relay: Relay) -> None:
    invoice = create_invoice(10_000)
    paid = await pay_and_forward(relay, invoice)
    [transfer] = forwards_of(invoice.id)
    assert paid["fee"] == 50
    assert transfer.amount == 10_000 - 50
    assert transfer.external_id == f"invoice-{invoice.id}"
    assert transfer.bank_code == "20018183"
    assert transfer.account_number == "6341320293482496"


async def test_net_amount_with_fine_and_interest(relay: Relay) -> None:
    invoice = create_invoice(10_000, fine=2.0, interest=1.0)
    paid = await pay_and_forward(relay, invoice, at=late(days=10))
    assert paid["fineAmount"] > 0
    assert paid["interestAmount"] > 0
    [transfer] = forwards_of(invoice.id)
    assert transfer.amount == 10_000 + paid["fineAmount"] + paid["interestAmount"] - 50


async def test_net_amount_with_a_discount(relay: Relay) -> None:
    discount_due = late(days=1)
    invoice = create_invoice(10_000, discounts=[{"percentage": 10.0, "due": discount_due}])
    paid = await pay_and_forward(relay, invoice)
    assert paid["discountAmount"] == 1_000
    [transfer] = forwards_of(invoice.id)
    assert transfer.amount == 9_000 - 50


async def test_transfer_events_mark_the_ledger(relay: Relay) -> None:
    invoice = create_invoice(5_000)
    await pay_and_forward(relay, invoice)
    relay.sb.wait_until(lambda: forwards_of(invoice.id)[0].status == "success")
    relay.sb.drain()

    async with relay.services() as services:
        ledger = await services.store.redis.hgetall(services.store.keys.webhook_ledger(invoice.id))
        assert ledger["stage"] == "success"
        assert ledger["amount"] == "4950"
        pending = await services.store.redis.xpending(
            services.store.keys.forward_stream(), FORWARD_GROUP
        )
        assert pending["pending"] == 0
    assert starkbank.balance.get().amount == 0
