"""The campaign when Redis forgets: Stark Bank's invoices bring it back, nothing is issued twice.

Real Redis (this test's key prefix is emptied to play an empty restart), the emulator through
the SDK, a hand-moved clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import starkbank
from campaign_harness import (
    BRIEF,
    INTERVAL,
    T0,
    Clock,
    CrashAfterCreate,
    CrashingGateway,
    HeldGateway,
    day_settings,
    first_slot_issued,
    forget_everything,
    invoices_per_slot,
    issue_on_time,
    runner_for,
    until,
)

from starkrelay.app import open_services
from starkrelay.bank.gateway import BankGateway
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import CAMPAIGN_MARK, Campaign, load_campaign, new_campaign
from starkrelay.invoicing.lifecycle import CampaignRunningError, start_campaign
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


def test_plan_tag_gives_back_the_campaign(relay_settings: Callable[..., Settings]) -> None:
    for interval, duration in ((10800.0, 86400.0), (0.2, 1.6), (7.5, 0.0), (1 / 3, 2.0)):
        settings = relay_settings(
            campaign_interval_seconds=interval,
            campaign_duration_seconds=duration,
            campaign_grace_seconds=interval / 2,
        )
        campaign = new_campaign(settings, now=1_764_624_000.123456)
        tags = campaign.slot_tags(5)
        assert tags[0] == CAMPAIGN_MARK
        assert tags[-1] == campaign.slot_tag(5)
        for tag in tags:
            assert tag == tag.lower()
            assert "," not in tag
            assert " " not in tag
        [plan] = [p for tag in tags if (p := Campaign.from_plan_tag(tag)) is not None]
        assert plan == campaign
        assert plan.fire_at(5) == campaign.fire_at(5)
        assert campaign.slot_of(list(tags)) == 5
    assert Campaign.from_plan_tag("campaign:x:slot:1") is None
    assert Campaign.from_plan_tag("campaign:x:plan:t0ms-1:intervalus-0:slots-8:graceus-1") is None


async def test_redis_loss_mid_campaign_readopts_it_and_keeps_the_schedule(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        await issue_on_time(runner, clock, 4)  # slots 0-3
        before = await load_campaign(services.store)
        assert before is not None
        issued_before = await runner.issuer.outcomes(before)
        clock.now = T0 + 3.5 * INTERVAL
        assert await forget_everything(services) > 0
        assert await load_campaign(services.store) is None

        outcomes = {o.slot: o for o in await runner.tick()}
        after = await load_campaign(services.store)
        assert after is not None
        assert after.same_plan(before)  # same id, t0, interval, slots, grace
        assert after.adopted_at == clock.now
        assert sorted(outcomes) == [0, 1, 2, 3]
        for slot, outcome in outcomes.items():
            assert outcome.status == "issued"
            assert outcome.recovered
            assert outcome.invoice_ids == tuple(sorted(issued_before[slot].invoice_ids))
        assert sum((await invoices_per_slot(services.bank, after)).values()) == 12

        while clock.now < T0 + 86400:
            clock.now += INTERVAL / 4
            await runner.tick()
        outcomes = await runner.issuer.outcomes(after)
        assert sorted(outcomes) == list(range(8))
        for slot in range(4, 8):
            assert not outcomes[slot].recovered
            assert not outcomes[slot].late  # on the original schedule
            assert outcomes[slot].at >= T0 + slot * INTERVAL
        assert await invoices_per_slot(services.bank, after) == dict.fromkeys(range(8), 3)


async def test_crash_between_create_and_record_then_redis_loss(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    await first_slot_issued(settings, clock)
    async with open_services(settings, bank=CrashingGateway(settings)) as services:
        with pytest.raises(CrashAfterCreate):  # slot 1 created, never recorded
            await runner_for(services, clock).tick()
        await forget_everything(services)
    clock.now += 60
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        outcomes = {o.slot: o for o in await runner.tick()}
        assert outcomes[1].status == "issued"
        assert outcomes[1].recovered
        campaign = await load_campaign(services.store)
        assert campaign is not None
        assert await invoices_per_slot(services.bank, campaign) == {0: 3, 1: 3}


async def test_redis_loss_while_a_slow_create_is_in_flight(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    """Replica A is inside a slow create of slot 1 when Redis restarts empty; replica B
    re-adopts the campaign. A takes its claim back; B waits, then finds the slot issued."""
    settings = day_settings(relay_settings)
    slow = HeldGateway(settings)

    clock = Clock(T0)
    async with open_services(settings, bank=slow) as a, open_services(settings) as b:
        runner_a = runner_for(a, clock, claim_seconds=2.0)  # re-asserted every 0.5 s
        runner_b = runner_for(b, clock, claim_seconds=2.0)
        await runner_a.tick()  # slot 0
        clock.now += INTERVAL
        slow.hold()
        in_flight = asyncio.create_task(runner_a.tick())
        await slow.entered.wait()
        await forget_everything(a)

        assert [o.slot for o in await runner_b.tick()] == [0]  # re-adopted; settling
        campaign = await load_campaign(b.store)
        assert campaign is not None
        assert campaign.adopted_at is not None
        claim_key = b.store.keys.slot_claim(campaign.id, 1)

        async def claim_is_back() -> bool:
            return await b.store.redis.get(claim_key) is not None

        await until(claim_is_back, "A to take its slot claim back")
        clock.now += runner_b.issuer.settle_seconds + 1
        assert await runner_b.tick() == []  # slot 0 settled before; A holds slot 1
        slow.release.set()
        [*_, created] = await in_flight
        assert created.slot == 1
        assert not created.recovered
        outcomes = {o.slot: o for o in await runner_b.tick()}
        assert outcomes[1] == created
        assert await invoices_per_slot(b.bank, campaign) == {0: 3, 1: 3}


async def test_two_replicas_racing_on_an_empty_redis(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings) as one, open_services(settings) as two:
        await issue_on_time(runner_for(one, clock), clock, 3)  # slots 0-2
        original = await load_campaign(one.store)
        assert original is not None
        await forget_everything(one)  # right as slot 3 falls due

        runners = [runner_for(one, clock), runner_for(two, clock)]
        for slot in range(3, 8):
            for offset in (0, 60):  # on time (settling after the loss), a minute later
                clock.now = T0 + slot * INTERVAL + offset
                await asyncio.gather(*(r.tick() for r in runners))
                await asyncio.gather(*(r.tick() for r in runners))
        campaign = await load_campaign(one.store)
        assert campaign is not None
        assert campaign.same_plan(original)
        outcomes = await runners[0].issuer.outcomes(campaign)
        assert sorted(outcomes) == list(range(8))
        assert {o.status for o in outcomes.values()} == {"issued"}
        assert await invoices_per_slot(one.bank, campaign) == dict.fromkeys(range(8), 3)
        assert sum(sandbox.summary()["invoices"].values()) == 24


async def test_ended_campaign_stays_ended_and_a_running_one_refuses_a_new_start(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        await issue_on_time(runner, clock, 3)
        running = await load_campaign(services.store)
        assert running is not None
        await forget_everything(services)
        with pytest.raises(CampaignRunningError, match=running.id):
            await start_campaign(services.store, settings, services.bank, now=clock.now)
        assert await load_campaign(services.store) is None

        while clock.now < T0 + 86400:  # re-adopted; slot 3 a little late, then on time
            await runner.tick()
            clock.now += 600
        clock.now += 30 * 86400  # long after the end
        await forget_everything(services)
        outcomes = await runner.tick()  # re-adopted, and still ended
        assert sorted(o.slot for o in outcomes) == list(range(8))
        ended = await load_campaign(services.store)
        assert ended is not None
        assert ended.same_plan(running)
        assert await invoices_per_slot(services.bank, ended) == dict.fromkeys(range(8), 3)
        assert sum(sandbox.summary()["invoices"].values()) == 24

        second = await start_campaign(services.store, settings, services.bank, now=clock.now)
        assert second.id != running.id
        [outcome] = await runner.tick()
        assert (outcome.slot, outcome.status) == (0, "issued")


async def test_fresh_install_starts_only_when_stark_bank_answers_and_holds_no_campaign(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    starkbank.invoice.create(  # an ad-hoc invoice is not a campaign
        [starkbank.Invoice(amount=1000, name="Ana", tax_id="012.345.678-90", tags=["adhoc"])]
    )
    gateway = BankGateway(settings, policy=BRIEF)
    async with open_services(settings, bank=gateway) as services:
        runner = runner_for(services, clock)
        sandbox.set_faults(api_error_rate=1.0)
        assert await runner.tick() == []
        assert await load_campaign(services.store) is None
        sandbox.set_faults(api_error_rate=0.0)
        [outcome] = await runner.tick()
        assert (outcome.slot, outcome.status) == (0, "issued")
        campaign = await load_campaign(services.store)
        assert campaign is not None
        assert campaign.adopted_at is None
        assert campaign.t0 == T0


async def test_campaign_invoices_without_a_plan_start_nothing(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)
    starkbank.invoice.create(
        [starkbank.Invoice(amount=1000, name="Ana", tax_id="012.345.678-90", tags=[CAMPAIGN_MARK])]
    )

    async with open_services(settings) as services:
        runner = runner_for(services, Clock(T0))
        assert await runner.tick() == []
        assert await load_campaign(services.store) is None
        assert sum(sandbox.summary()["invoices"].values()) == 1
