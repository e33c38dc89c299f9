"""The campaign when Stark Bank misbehaves (emulator faults) and when it never ends."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from campaign_harness import BRIEF, T0, Clock, day_settings, issue_on_time, runner_for

from starkrelay.app import open_services
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Invoice, NewInvoice
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import load_campaign
from starkrelay.invoicing.lifecycle import CampaignRunningError, current_campaign, start_campaign
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


class LossyCreates(BankGateway):
    """The real gateway; while it creates invoices, every answer of the emulator is lost."""

    def __init__(self, settings: Settings, sandbox: SandboxHandle) -> None:
        super().__init__(settings, policy=BRIEF)
        self.sandbox = sandbox

    async def create_invoices(
        self, invoices: list[NewInvoice], *, batch_tag: str | None = None
    ) -> list[Invoice]:
        self.sandbox.set_faults(api_lost_response_rate=1.0)  # every call works, no answer comes
        try:
            return await super().create_invoices(invoices, batch_tag=batch_tag)
        finally:
            self.sandbox.set_faults(api_lost_response_rate=0.0)


async def test_lost_responses_then_recovery_issue_the_slot_once(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings, bank=LossyCreates(settings, sandbox)) as services:
        runner = runner_for(services, clock)
        assert await runner.tick() == []  # created, every answer (and look-up) lost
        assert sum(sandbox.summary()["invoices"].values()) == 3
        clock.now += 600
        [outcome] = await runner.tick()
        assert outcome.status == "issued"
        assert outcome.recovered
        assert len(outcome.invoice_ids) == 3
        assert sum(sandbox.summary()["invoices"].values()) == 3


async def test_unavailable_past_the_grace_period_is_recorded_skipped(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(relay_settings)

    clock = Clock(T0)
    async with open_services(settings, bank=BankGateway(settings, policy=BRIEF)) as services:
        runner = runner_for(services, clock)
        await current_campaign(services.store, settings, services.bank, now=clock.now)
        sandbox.set_faults(api_error_rate=1.0)  # refused before anything happens
        assert await runner.tick() == []
        clock.now += 1801
        sandbox.set_faults(api_error_rate=0.0)
        [outcome] = await runner.tick()
        assert outcome.status == "skipped"
        assert sum(sandbox.summary()["invoices"].values()) == 0


async def test_endless_campaign_keeps_issuing_and_never_ends(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = day_settings(
        relay_settings, campaign_duration_seconds=0, campaign_batch_min=1, campaign_batch_max=1
    )

    clock = Clock(T0)
    async with open_services(settings) as services:
        runner = runner_for(services, clock)
        await issue_on_time(runner, clock, 20)
        campaign = await load_campaign(services.store)
        assert campaign is not None
        assert campaign.slots is None
        outcomes = await runner.issuer.outcomes(campaign)
        assert sorted(outcomes) == list(range(20))
        assert {o.status for o in outcomes.values()} == {"issued"}
        with pytest.raises(CampaignRunningError, match="never"):
            await start_campaign(services.store, settings, services.bank, now=clock.now)
