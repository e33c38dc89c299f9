"""Real campaign ticks (`every`) in two replicas sharing one Redis: a compressed campaign, once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from starkrelay.api.wiring import campaign_scheduler
from starkrelay.app import open_services
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import load_campaign
from starkrelay.invoicing.issuance import SlotIssuer, SlotOutcome
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


async def test_two_replicas_issue_the_compressed_campaign_once(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(
        campaign_interval_seconds=0.2,
        campaign_duration_seconds=1.6,
        campaign_grace_seconds=1.0,
        campaign_batch_min=2,
        campaign_batch_max=3,
    )

    async with open_services(settings) as one, open_services(settings) as two:
        issuer = SlotIssuer(settings, one.store, one.bank)
        outcomes: dict[int, SlotOutcome] = {}
        async with campaign_scheduler(one), campaign_scheduler(two):
            give_up = time.monotonic() + 20
            while len(outcomes) < 8 and time.monotonic() < give_up:
                await asyncio.sleep(0.05)
                campaign = await load_campaign(one.store)
                if campaign is not None:
                    outcomes = await issuer.outcomes(campaign)
            await asyncio.sleep(0.5)  # ticks keep running after the end
        assert campaign is not None
        assert sorted(outcomes) == list(range(8))
        assert {o.status for o in outcomes.values()} == {"issued"}
        issued = await one.bank.find_invoices_by_tags([campaign.tag])
        expected = sorted(i for o in outcomes.values() for i in o.invoice_ids)
        assert sorted(i.id for i in issued) == expected
        for slot, outcome in outcomes.items():
            tagged = await one.bank.find_invoices_by_tags([campaign.slot_tag(slot)])
            assert sorted(i.id for i in tagged) == sorted(outcome.invoice_ids)
            assert 2 <= len(tagged) <= 3
