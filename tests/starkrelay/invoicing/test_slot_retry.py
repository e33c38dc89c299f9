"""Slots Stark Bank refused: retried with backoff within the grace, re-issued by an operator
(safely, by tag), and a slow create that keeps its claim. Real Redis, the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from campaign_harness import (
    INTERVAL,
    T0,
    Clock,
    CrashAfterCreate,
    CrashingGateway,
    HeldGateway,
    day_settings,
    first_slot_issued,
    invoices_per_slot,
    runner_for,
)

from starkrelay.app import open_services
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.issuance import SlotBusyError, SlotIssuer, SlotRetryError
from starkrelay.invoicing.outcomes import SlotOutcome, retry_wait
from starkrelay.invoicing.scheduler import CampaignRunner
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

WRONG_PROJECT = "1234567890123456"


async def the_campaign(settings: Settings) -> Campaign:
    async with open_services(settings) as services:
        campaign = await load_campaign(services.store)
    assert campaign is not None
    return campaign


async def by_slot(runner: CampaignRunner) -> dict[int, SlotOutcome]:
    return {outcome.slot: outcome for outcome in await runner.tick()}


def test_retry_wait_doubles_up_to_its_ceiling() -> None:
    assert [retry_wait(n, 60, 240) for n in range(1, 6)] == [60, 120, 240, 240, 240]


async def test_refused_slot_is_retried_with_backoff_then_issued_once_credentials_are_fixed(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)
    wrong = day_settings(relay_settings, stark_project_id=WRONG_PROJECT)

    clock = Clock(T0)
    await first_slot_issued(settings, clock)
    async with open_services(wrong) as services:  # someone rotated the key wrongly
        runner = runner_for(services, clock)
        refused = (await by_slot(runner))[1]
        assert (refused.slot, refused.status, refused.attempts) == (1, "failed", 1)
        assert "invalidAccessId" in refused.errors
        assert refused.retry_at == clock.now + 60
        clock.now += 59
        waiting = (await by_slot(runner))[1]
        assert waiting == refused  # backing off: not tried again
        clock.now += 1
        again = (await by_slot(runner))[1]
        assert (again.attempts, again.retry_at) == (2, clock.now + 120)
    clock.now += 120
    async with open_services(settings) as services:  # the fix deployed
        issued = (await by_slot(runner_for(services, clock)))[1]
        assert (issued.slot, issued.status, issued.recovered) == (1, "issued", False)
        assert issued.attempts == 2
        assert not issued.late or clock.now > T0 + INTERVAL + 60
    campaign = await the_campaign(settings)
    async with open_services(settings) as services:
        assert await invoices_per_slot(services.bank, campaign) == {0: 3, 1: 3}


async def test_refused_past_its_grace_stays_failed_until_an_operator_retries_it(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)
    wrong = day_settings(relay_settings, stark_project_id=WRONG_PROJECT)

    clock = Clock(T0)
    await first_slot_issued(settings, clock)
    async with open_services(wrong) as services:
        runner = runner_for(services, clock)
        while clock.now < T0 + INTERVAL + 1800:
            await runner.tick()
            clock.now += 30
        clock.now = T0 + INTERVAL + 1801  # the grace is over
        final = (await by_slot(runner))[1]
        assert final.status == "failed"
        attempts = final.attempts
        assert attempts == 9  # at 0, 60, 180, 420, 660 ... 1620 s: 60, 120, then 240 s apart
        clock.now += 3600
        still = (await by_slot(runner_for(services, clock)))[1]  # a restarted process
        assert still == final  # never retried on its own again
    async with open_services(settings) as services:
        campaign = await load_campaign(services.store)
        assert campaign is not None
        issuer = SlotIssuer(settings, services.store, services.bank, clock=clock)
        reissued = await issuer.retry_failed_slot(campaign, 1)
        assert (reissued.status, reissued.recovered, reissued.late) == ("issued", False, True)
        assert await issuer.retry_failed_slot(campaign, 1) == reissued  # a second: nothing
        assert await invoices_per_slot(services.bank, campaign) == {0: 3, 1: 3}


async def test_retry_slot_records_invoices_stark_bank_already_holds(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    """Refused, then a retry created the batch and crashed before recording it: the operator's
    retry finds the batch by its tag and creates nothing."""
    settings = day_settings(relay_settings)
    wrong = day_settings(relay_settings, stark_project_id=WRONG_PROJECT)

    clock = Clock(T0)
    async with open_services(wrong) as services:
        await services.store.redis.set(  # a campaign the scheduler started earlier
            services.store.keys.campaign(),
            Campaign("20300317t174640-abcdef", T0, INTERVAL, 8, 1800).to_json(),
        )
        [refused] = await runner_for(services, clock).tick()
        assert refused.status == "failed"
    clock.now += 60
    async with open_services(settings, bank=CrashingGateway(settings)) as services:
        with pytest.raises(CrashAfterCreate):
            await runner_for(services, clock).tick()
    async with open_services(settings) as services:
        campaign = await load_campaign(services.store)
        assert campaign is not None
        issuer = SlotIssuer(settings, services.store, services.bank, clock=clock)
        assert (await issuer.outcome(campaign, 0)) == refused
        found = await issuer.retry_failed_slot(campaign, 0)
        assert (found.status, found.recovered) == ("issued", True)
        assert await invoices_per_slot(services.bank, campaign) == {0: 3}


async def test_retry_slot_refuses_what_it_cannot_retry(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        await runner.tick()  # slot 0 issued
        clock.now = T0 + 2 * INTERVAL + 1200  # slot 1 skipped, slot 2 late
        await runner.tick()
        campaign = await load_campaign(services.store)
        assert campaign is not None
        issuer = runner.issuer
        issued = await issuer.outcome(campaign, 0)
        assert await issuer.retry_failed_slot(campaign, 0) == issued
        with pytest.raises(SlotRetryError, match="slot 1 is skipped, not failed"):
            await issuer.retry_failed_slot(campaign, 1)
        with pytest.raises(SlotRetryError, match="not due yet"):
            await issuer.retry_failed_slot(campaign, 5)
        with pytest.raises(SlotRetryError, match=r"not in campaign .* 0 to 7"):
            await issuer.retry_failed_slot(campaign, 8)
        await services.store.redis.set(services.store.keys.slot_claim(campaign.id, 1), "someone")
        with pytest.raises(SlotBusyError, match="another process"):
            await issuer.retry_failed_slot(campaign, 1)
        assert await invoices_per_slot(services.bank, campaign) == {0: 3, 2: 3}


async def test_a_slow_create_keeps_its_claim_past_the_claim_time(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)
    slow = HeldGateway(settings)

    clock = Clock(T0)
    async with open_services(settings, bank=slow) as a, open_services(settings) as b:
        runner_a = runner_for(a, clock, claim_seconds=0.1)
        runner_b = runner_for(b, clock, claim_seconds=0.1)
        await runner_a.tick()  # slot 0
        clock.now += INTERVAL
        slow.hold()
        in_flight = asyncio.create_task(runner_a.tick())
        async with asyncio.timeout(10):  # a tick that failed before its create: say so
            await asyncio.wait([in_flight, asyncio.create_task(slow.entered.wait())],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        assert slow.entered.is_set(), in_flight.exception() if in_flight.done() else None
        for _ in range(3):  # three claim times go by while A's create hangs
            await asyncio.sleep(0.1)
            assert 1 not in await by_slot(runner_b)
        slow.release.set()
        [*_, created] = await in_flight
        assert (created.slot, created.status) == (1, "issued")
        campaign = await load_campaign(b.store)
        assert campaign is not None
        assert await invoices_per_slot(b.bank, campaign) == {0: 3, 1: 3}
