"""Everything at once: duplicated, dropped and reordered webhooks, a flaky API, two workers
(one of them killed mid-run), then reconciliation. Each credited invoice: one transfer."""

from __future__ import annotations

import asyncio
from collections import Counter

import anyio
import pytest
import starkbank
from tests.support.relay_harness import Relay, create_invoice, forward_all, relay_context

from starkrelay.api.wiring import build_worker, run_reconciliation

pytestmark = pytest.mark.anyio

FAULTS = {
    "webhook_duplicate_rate": 0.3,
    "webhook_drop_rate": 0.2,
    "webhook_reorder_window": 0.05,
    "api_error_rate": 0.1,
    "api_lost_response_rate": 0.1,
}


async def test_every_credited_invoice_is_forwarded_exactly_once(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0, "initial_balance": 10**9, "seed": 11}
    ) as relay:
        relay.register_webhook()
        invoices = [create_invoice(1_000 + 37 * n) for n in range(40)]
        relay.sb.set_faults(**FAULTS)
        for invoice in invoices:
            relay.sb.pay_invoice(invoice.id)
        await _forward_with_a_killed_worker(relay)
        relay.sb.drain()
        relay.sb.set_faults(**dict.fromkeys(FAULTS, 0.0))
        await _reconcile_and_forward(relay)

        by_external = Counter(t.external_id for t in starkbank.transfer.query())
        amounts = {t.external_id: t.amount for t in starkbank.transfer.query()}
        for invoice in invoices:
            key = f"invoice-{invoice.id}"
            assert by_external[key] == 1, key
            assert amounts[key] == invoice.amount - 50
        assert sum(by_external.values()) == len(invoices)


async def _forward_with_a_killed_worker(relay: Relay) -> None:
    async with relay.services() as services:
        doomed = build_worker(services, "host-a-forwarder")
        survivor = build_worker(services, "host-b-forwarder")
        # killed wherever it is after 0.3 s, possibly between create and ack (an anyio scope:
        # a plain Task.cancel() can be absorbed while the worker waits on an SDK thread)
        with anyio.move_on_after(0.3):
            await doomed.run(anyio.Event())
        await asyncio.sleep(0.25)  # past FORWARD_CLAIM_IDLE_SECONDS
        await forward_all(survivor, services, within=20)


async def _reconcile_and_forward(relay: Relay) -> None:
    async with relay.services() as services:
        for _ in range(2):
            await run_reconciliation(services)
            await forward_all(build_worker(services, "host-b-forwarder"), services, within=20)
