"""A forward entry Redis lost (the ledger still says queued) is re-enqueued by reconciliation,
as the same attempt; an entry a worker is merely slow with is left alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    forward_all,
    forwards_of,
    relay_context,
)

from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.ledger import FORWARD_GROUP
from starkrelay.reconciliation.report import MoneyReport

pytestmark = pytest.mark.anyio

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
PAST_IDLE = 0.3
"""Just longer than the harness's FORWARD_CLAIM_IDLE_SECONDS (0.2 s)."""


def credited_and_taken(relay: Relay, amount: int) -> Any:
    """An invoice paid and its credited webhook taken (entry in the stream, ledger queued)."""
    relay.register_webhook()
    invoice = create_invoice(amount)
    relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()
    return invoice


async def entry_of(services: Services, invoice_id: str) -> str:
    ledger = await services.store.redis.hgetall(services.store.keys.webhook_ledger(invoice_id))
    assert ledger["stage"] == "queued"
    entry: str = ledger["entry:0"]
    assert await services.store.redis.xrange(services.store.keys.forward_stream(), entry, entry)
    return entry


async def reconcile(services: Services) -> MoneyReport:
    return await run_reconciliation(services, since=YESTERDAY)


@pytest.mark.parametrize("loss", ["deleted_before_delivery", "acked_and_deleted"])
async def test_lost_entry_is_re_enqueued_and_forwarded_once(
    redis_url: str, key_prefix: str, loss: str
) -> None:
    with relay_context(redis_url, key_prefix, sandbox={"pay_share": 0.0}) as relay:
        invoice = credited_and_taken(relay, 4_000)

        async with relay.services() as services:
            redis, stream = services.store.redis, services.store.keys.forward_stream()
            entry = await entry_of(services, invoice.id)
            worker = relay.worker(services)
            if loss == "acked_and_deleted":  # delivered, then acked and gone (failover)
                [delivered] = await worker.reader.read_new(block=False)
                assert delivered.id == entry
                await redis.xack(stream, FORWARD_GROUP, entry)
            await redis.xdel(stream, entry)
            await asyncio.sleep(PAST_IDLE)

            first = await reconcile(services)
            ledger = await redis.hgetall(services.store.keys.webhook_ledger(invoice.id))
            assert ledger["lost_entry:0"] == entry
            assert ledger["entry:0"] != entry
            await forward_all(worker, services)
            await asyncio.sleep(PAST_IDLE)
            first, second = first, await reconcile(services)
        assert first.lost_requeued == 1
        assert first.enqueued_missing == 0
        assert first.in_flight == 3_950
        assert first.disagreements == []
        [transfer] = forwards_of(invoice.id)
        assert (transfer.amount, transfer.external_id) == (3_950, f"invoice-{invoice.id}")
        assert second.lost_requeued == 0
        assert second.disagreements == []
        assert len(forwards_of(invoice.id)) == 1


async def test_slow_entry_still_pending_is_not_re_enqueued(redis_url: str, key_prefix: str) -> None:
    with relay_context(redis_url, key_prefix, sandbox={"pay_share": 0.0}) as relay:
        invoice = credited_and_taken(relay, 4_000)

        async with relay.services() as services:
            entry = await entry_of(services, invoice.id)
            worker = relay.worker(services)
            [held] = await worker.reader.read_new(block=False)  # a worker took it, slowly
            assert held.id == entry
            await asyncio.sleep(PAST_IDLE)

            report = await reconcile(services)
            assert await services.store.redis.xlen(services.store.keys.forward_stream()) == 1
            ledger = await services.store.redis.hgetall(
                services.store.keys.webhook_ledger(invoice.id)
            )
            assert ledger["entry:0"] == entry
            assert "requeues" not in ledger
            await forward_all(worker, services)  # the slow worker finishes its entry
        assert report.lost_requeued == 0
        assert report.in_flight == 3_950
        assert [t.amount for t in forwards_of(invoice.id)] == [3_950]


async def test_lost_resend_entry_is_re_enqueued_as_the_same_attempt(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"pay_share": 0.0, "faults": {"transfer_fail_rate": 1.0}},
    ) as relay:  # fmt: skip
        invoice = create_invoice(4_000)
        relay.sb.pay_invoice(invoice.id)

        async with relay.services() as services:
            await reconcile(services)
            await forward_all(relay.worker(services), services)
        relay.sb.wait_until(lambda: forwards_of(invoice.id)[0].status == "failed")
        relay.sb.set_faults(transfer_fail_rate=0.0)  # the receiving bank takes the next one

        async with relay.services() as services:
            assert (await reconcile(services)).resent == 1
            ledger = await services.store.redis.hgetall(
                services.store.keys.webhook_ledger(invoice.id)
            )
            assert (ledger["stage"], ledger["attempt"]) == ("queued", "1")
            await services.store.redis.xdel(services.store.keys.forward_stream(), ledger["entry:1"])
            await asyncio.sleep(PAST_IDLE)
            report = await reconcile(services)
            await forward_all(relay.worker(services), services)
        assert (report.resent, report.lost_requeued) == (0, 1)
        relay.sb.wait_until(lambda: any(t.status == "success" for t in forwards_of(invoice.id)))
        attempts = {t.external_id: (t.status, t.amount) for t in forwards_of(invoice.id)}
        assert attempts == {
            f"invoice-{invoice.id}": ("failed", 3_950),
            f"invoice-{invoice.id}-r1": ("success", 3_950),
        }
