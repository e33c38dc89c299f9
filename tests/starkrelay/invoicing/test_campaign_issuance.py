"""The campaign against real Redis and the emulator: every slot exactly once, whatever happens.

Time is a test-controlled clock (no sleeping); Stark Bank is starksandbox through the SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from campaign_harness import (
    INTERVAL,
    T0,
    Clock,
    CrashAfterCreate,
    CrashingGateway,
    day_settings,
    issue_on_time,
    runner_for,
)

from starkrelay.app import open_services
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Invoice
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.lifecycle import CampaignRunningError, current_campaign, start_campaign
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


BATCHES = {"campaign_batch_min": 2, "campaign_batch_max": 4}
"""Batches of 2 to 4 invoices: a slot's batch is known by its ids, not by its size."""


async def batches_by_slot(bank: BankGateway, campaign: Campaign) -> dict[int, list[Invoice]]:
    invoices = await bank.find_invoices_by_tags([campaign.tag])
    slots: dict[int, list[Invoice]] = {}
    for invoice in invoices:
        slot_tags = [t for t in invoice.tags if t.startswith(campaign.tag + ":slot:")]
        assert len(slot_tags) == 1
        slots.setdefault(int(slot_tags[0].rsplit(":", 1)[1]), []).append(invoice)
    return slots


async def test_campaign_issues_eight_batches_then_stops(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        for _ in range(8 * 4):  # four ticks per interval, for one whole day
            await runner.tick()
            clock.now += INTERVAL / 4
        campaign = await load_campaign(services.store)
        assert campaign is not None
        assert campaign.t0 == T0
        assert campaign.slots == 8
        outcomes = await runner.issuer.outcomes(campaign)
        assert sorted(outcomes) == list(range(8))
        assert {o.status for o in outcomes.values()} == {"issued"}
        batches = await batches_by_slot(services.bank, campaign)
        assert sorted(batches) == list(range(8))
        for slot, invoices in batches.items():
            assert 2 <= len(invoices) <= 4
            assert sorted(i.id for i in invoices) == sorted(outcomes[slot].invoice_ids)

        clock.now += 30 * 86400  # long after the end: nothing more, no new campaign
        assert await runner.tick() == []
        assert await load_campaign(services.store) == campaign
        assert len(await services.bank.find_invoices_by_tags([campaign.tag])) == sum(
            len(b) for b in batches.values()
        )

        second = await start_campaign(services.store, settings, services.bank, now=clock.now)
        assert second.id != campaign.id
        assert [o.slot for o in await runner.tick()] == [0]


async def test_restart_mid_campaign_repeats_and_skips_nothing(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    clock = Clock(T0)
    async with open_services(settings) as services:
        await issue_on_time(runner_for(services, clock), clock, 4)
    # The process is gone; a new one starts 20 min into slot 4 (within the 30 min grace).
    clock.now += 1200
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        campaign = await current_campaign(services.store, settings, services.bank, now=clock.now)
        assert campaign.t0 == T0
        while clock.now < T0 + 86400:
            await runner.tick()
            clock.now += 600
        outcomes = await runner.issuer.outcomes(campaign)
        assert sorted(outcomes) == list(range(8))
        assert [o.late for o in map(outcomes.get, range(8))] == [False] * 4 + [True] + [False] * 3
        batches = await batches_by_slot(services.bank, campaign)
        for slot in range(8):
            assert sorted(i.id for i in batches[slot]) == sorted(outcomes[slot].invoice_ids)


async def test_crash_after_create_is_found_by_tag_not_created_again(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    clock = Clock(T0)
    async with open_services(settings, bank=CrashingGateway(settings)) as services:
        runner = runner_for(services, clock, claim_seconds=0.05)
        with pytest.raises(CrashAfterCreate):
            await runner.tick()
    before = sandbox.summary()
    await asyncio.sleep(0.06)  # the dead process's slot claim expires
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        campaign = await load_campaign(services.store)
        assert campaign is not None
        created = await services.bank.find_invoices_by_tags([campaign.slot_tag(0)])
        [outcome] = await runner.tick()
        assert outcome.status == "issued"
        assert outcome.recovered
        assert sorted(outcome.invoice_ids) == sorted(i.id for i in created)
        assert invoice_total(sandbox.summary()) == invoice_total(before) == len(created)
        assert await runner.tick() == []  # slot 0 is settled; nothing else is due
        assert await runner.issuer.outcomes(campaign) == {0: outcome}
        batches = await batches_by_slot(services.bank, campaign)
        assert list(batches) == [0]
        assert len(batches[0]) == len(created)


def invoice_total(summary: dict[str, Any]) -> int:
    """Invoices the emulator holds, whatever their status."""
    return sum(int(n) for n in summary["invoices"].values())


async def test_missed_slots_are_late_within_grace_else_skipped(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        await runner.tick()  # slot 0 on time, campaign starts
        clock.now = T0 + 3 * INTERVAL + 1200  # down through slots 1-2, 20 min into slot 3
        outcomes = {o.slot: o for o in await runner.tick()}
        assert outcomes[1].status == "skipped"
        assert outcomes[2].status == "skipped"
        assert outcomes[3].status == "issued"
        assert outcomes[3].late
        campaign = await load_campaign(services.store)
        assert campaign is not None
        assert sorted(await batches_by_slot(services.bank, campaign)) == [0, 3]


async def test_two_schedulers_racing_issue_each_slot_once(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    clock = Clock(T0)
    async with open_services(settings) as one, open_services(settings) as two:
        runners = [runner_for(one, clock), runner_for(two, clock)]
        for _ in range(8):
            await asyncio.gather(*(r.tick() for r in runners))
            await asyncio.gather(*(r.tick() for r in runners))
            clock.now += INTERVAL
        campaign = await load_campaign(one.store)
        assert campaign is not None
        outcomes = await runners[0].issuer.outcomes(campaign)
        batches = await batches_by_slot(one.bank, campaign)
        assert sorted(batches) == list(range(8))
        for slot in range(8):
            assert sorted(i.id for i in batches[slot]) == sorted(outcomes[slot].invoice_ids)


async def test_campaign_start_refuses_while_running(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, **BATCHES)

    async with open_services(settings) as services:
        first = await current_campaign(services.store, settings, services.bank, now=T0)
        with pytest.raises(CampaignRunningError, match="still running"):
            await start_campaign(services.store, settings, services.bank, now=T0 + 60)
        forced = await start_campaign(
            services.store, settings, services.bank, now=T0 + 60, force=True
        )
        assert forced.t0 == T0 + 60
        assert forced.id != first.id
        history = await services.store.redis.lrange(services.store.keys.campaign_history(), 0, -1)
        assert [Campaign.from_json(str(h)) for h in history] == [first]


async def test_new_campaign_allowed_as_soon_as_every_slot_is_resolved(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings, campaign_batch_min=1, campaign_batch_max=1)

    clock = Clock(T0)
    async with open_services(settings) as services:
        await issue_on_time(runner_for(services, clock), clock, 8)
        clock.now = T0 + 7 * INTERVAL + 60  # last slot issued, its grace not yet over
        first = await load_campaign(services.store)
        assert first is not None
        assert not first.is_over(clock.now)
        second = await start_campaign(services.store, settings, services.bank, now=clock.now)
        assert second.id != first.id
