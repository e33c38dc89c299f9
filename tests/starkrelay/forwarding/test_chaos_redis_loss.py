"""Redis loses everything mid-campaign: the test's own redis-server is killed and restarted
empty while the campaign scheduler issues slots, Stark Bank pays them, webhooks arrive
(duplicated, dropped) and the forwarding worker sends transfers.

Afterwards: the campaign was re-adopted from Stark Bank's invoices (same id, same t0) and
went on on its original schedule; no slot was issued twice (invoices per slot tag); and once
reconciliation rebuilt what Redis forgot, every credited invoice has exactly one successful
transfer of ``amount - fee``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio.to_thread
import pytest
import starkbank
from redis.exceptions import RedisError
from tests.support.redis_server import RedisServer, own_redis
from tests.support.relay_harness import Relay, forward_all, relay_context

from starkrelay.api.deps import Services
from starkrelay.api.wiring import build_worker, forwarding_worker, run_reconciliation
from starkrelay.core.supervision import every
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.invoicing.outcomes import load_outcomes
from starkrelay.invoicing.scheduler import CampaignRunner, tick_seconds

pytestmark = pytest.mark.anyio

INTERVAL, SLOTS, BATCH, FEE = 0.5, 8, 3, 50
CAMPAIGN = {
    "campaign_interval_seconds": INTERVAL,
    "campaign_duration_seconds": INTERVAL * SLOTS,
    "campaign_grace_seconds": 2.0,
    "campaign_batch_min": BATCH,
    "campaign_batch_max": BATCH,
}
FAULTS = {"webhook_duplicate_rate": 0.2, "webhook_drop_rate": 0.1, "api_error_rate": 0.03}


async def test_redis_data_loss_mid_campaign_issues_no_slot_twice_and_forwarding_goes_on(
    key_prefix: str,
) -> None:
    sandbox = {"pay_share": 1.0, "initial_balance": 10**9, "invoice_fee": FEE, "seed": 7}
    with (
        own_redis() as server,
        relay_context(server.url(), key_prefix, sandbox=sandbox, **CAMPAIGN) as relay,
    ):
        relay.register_webhook()
        relay.sb.set_faults(**FAULTS)
        before, after, held_before = await _campaign_through_a_redis_loss(relay, server)
        relay.sb.drain()
        relay.sb.set_faults(**dict.fromkeys(FAULTS, 0.0))
        await _reconcile_and_forward(relay)

        assert server.restarts == 1
        assert 1 <= held_before < SLOTS  # the loss came mid-campaign
        assert after.same_plan(before)  # same id, t0, interval, slots: re-adopted...
        assert after.adopted_at is not None  # ...from Stark Bank, after Redis forgot it

        invoices = list(starkbank.invoice.query(tags=[before.tag]))
        per_slot = Counter(before.slot_of(list(invoice.tags)) for invoice in invoices)
        assert per_slot == dict.fromkeys(range(SLOTS), BATCH)  # no slot issued twice
        assert len(list(starkbank.invoice.query())) == SLOTS * BATCH  # no other campaign
        for invoice in invoices:  # each slot at its original time, never before
            slot = before.slot_of(list(invoice.tags))
            assert slot is not None
            assert invoice.created.timestamp() >= before.fire_at(slot) - 0.001

        credited = {
            log.invoice.id: log.invoice for log in starkbank.invoice.log.query(types=["credited"])
        }
        assert set(credited) == {invoice.id for invoice in invoices}
        relay.sb.wait_until(lambda: _all_settled(len(credited)), timeout=10)
        transfers = list(starkbank.transfer.query())
        by_external = Counter(t.external_id for t in transfers)
        for invoice_id, invoice in credited.items():
            key = f"invoice-{invoice_id}"
            assert by_external[key] == 1, key
            [transfer] = [t for t in transfers if t.external_id == key]
            assert transfer.status == "success"
            assert transfer.amount == invoice.amount - invoice.fee
        assert len(transfers) == len(credited)


async def _campaign_through_a_redis_loss(
    relay: Relay, server: RedisServer
) -> tuple[Campaign, Campaign, int]:
    async with relay.services() as services:
        s = services
        issuer = SlotIssuer(s.settings, s.store, s.bank, claim_seconds=0.4)
        ticks = tick_seconds(INTERVAL, CAMPAIGN["campaign_grace_seconds"])
        async with every(ticks, CampaignRunner(issuer).tick), forwarding_worker(s):
            await _until(lambda: _issued(s, at_least=3), "three slots issued")
            before = await load_campaign(s.store)
            assert before is not None
            held_before = len(await load_outcomes(s.store, before.id))
            await anyio.to_thread.run_sync(server.restart_empty)  # the loop keeps running
            await _until(lambda: _issued(s, at_least=SLOTS), "the campaign to end")
            after = await load_campaign(s.store)
            assert after is not None
    return before, after, held_before


async def _issued(services: Services, at_least: int) -> bool:
    """True once ``at_least`` slots of the current campaign are issued (False while Redis is
    away or holds no campaign)."""
    try:
        campaign = await load_campaign(services.store)
        if campaign is None:
            return False
        outcomes = await load_outcomes(services.store, campaign.id)
    except RedisError:
        return False
    return sum(o.status == "issued" for o in outcomes.values()) >= at_least


async def _until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await condition():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _reconcile_and_forward(relay: Relay) -> None:
    async with relay.services() as services:
        for _ in range(2):
            await run_reconciliation(services)
            await forward_all(build_worker(services, "chaos-forwarder"), services, within=20)


def _all_settled(expected: int) -> bool:
    statuses = Counter(t.status for t in starkbank.transfer.query())
    return statuses["success"] >= expected and statuses["created"] + statuses["processing"] == 0
