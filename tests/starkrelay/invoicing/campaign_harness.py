"""Shared pieces of the campaign tests: a day's campaign on a hand-moved clock, runners, slots
issued on time, Redis forgetting everything (of this test's prefix), counting what Stark Bank
holds per slot, and gateways that crash, hang or give up at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from starkrelay.api.deps import Services
from starkrelay.app import open_services
from starkrelay.bank import RetryPolicy
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Invoice, NewInvoice
from starkrelay.core.settings import Settings
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.invoicing.scheduler import CampaignRunner

T0 = 1_900_000_000.0
INTERVAL = 10800.0
BRIEF = RetryPolicy(deadline=0.1, max_wait=0.01, initial=0.001)
"""A gateway policy that gives up on Stark Bank within a tenth of a second."""


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def day_settings(relay_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    """A 24 h campaign of 8 slots, 3 invoices each (a second batch for a slot shows as 6)."""
    values: dict[str, Any] = {
        "campaign_interval_seconds": INTERVAL,
        "campaign_duration_seconds": 86400,
        "campaign_grace_seconds": 1800,
        "campaign_batch_min": 3,
        "campaign_batch_max": 3,
        "campaign_retry_initial_seconds": 60,
        "campaign_retry_max_seconds": 240,
    }
    return relay_settings(**(values | overrides))


def runner_for(services: Services, clock: Clock, **issuer_args: Any) -> CampaignRunner:
    issuer = SlotIssuer(
        services.settings, services.store, services.bank, clock=clock,
        **issuer_args,
    )  # fmt: skip
    return CampaignRunner(issuer)


async def issue_on_time(runner: CampaignRunner, clock: Clock, slots: int) -> None:
    """Tick at the next ``slots`` slot times: the clock moves one interval after each."""
    for _ in range(slots):
        await runner.tick()
        clock.now += INTERVAL


async def first_slot_issued(settings: Settings, clock: Clock) -> None:
    """A process starts the campaign (slot 0 issued at ``clock``) and stops; the clock then
    stands at slot 1."""
    async with open_services(settings) as services:
        await runner_for(services, clock).tick()
    clock.now += INTERVAL


async def forget_everything(services: Services) -> int:
    """Redis loses every key of this deployment (what an empty restart does to it)."""
    pattern = f"{services.store.keys.prefix}:*"
    names = [name async for name in services.store.redis.scan_iter(pattern, count=10_000)]
    if names:
        await services.store.redis.delete(*names)
    return len(names)


async def invoices_per_slot(bank: BankGateway, campaign: Campaign) -> Counter[int]:
    """How many invoices Stark Bank holds for each slot of ``campaign`` (by the slot tag)."""
    counts: Counter[int] = Counter()
    for invoice in await bank.find_invoices_by_tags([campaign.tag]):
        slot = campaign.slot_of(invoice.tags)
        assert slot is not None, invoice.tags
        counts[slot] += 1
    return counts


class CrashAfterCreate(BaseException):
    """The process dies right after Stark Bank answered the create call."""


class CrashingGateway(BankGateway):
    """The real gateway, but the process "dies" once the batch exists at Stark Bank."""

    async def create_invoices(
        self, invoices: list[NewInvoice], *, batch_tag: str | None = None
    ) -> list[Invoice]:
        await super().create_invoices(invoices, batch_tag=batch_tag)
        raise CrashAfterCreate


class HeldGateway(BankGateway):
    """The real gateway whose creates wait for ``release`` (a very slow Stark Bank);
    ``entered`` is set when a create starts waiting."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    def hold(self) -> None:
        """The next create waits (``entered`` set when it starts) until ``release``."""
        self.release.clear()
        self.entered.clear()

    async def create_invoices(
        self, invoices: list[NewInvoice], *, batch_tag: str | None = None
    ) -> list[Invoice]:
        self.entered.set()
        await self.release.wait()
        return await super().create_invoices(invoices, batch_tag=batch_tag)


async def until(condition: Callable[[], Any], what: str, within: float = 5.0) -> None:
    """Poll an async ``condition`` until it is truthy (bounded; not a timing assertion)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await condition():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
