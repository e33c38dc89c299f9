"""How a process runs each feature with its ``Services``: the edge where the container meets
the features.

Features (forwarding, invoicing, reconciliation, registration) take plain arguments and never
import ``Services``; the app, the routes and the commands call them through the adapters here.
Each background part is ``part(services, heartbeat)`` (see ``app.BACKGROUND``); its name is
the name readiness and liveness report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from starkrelay.api.deps import Services
from starkrelay.core.supervision import Heartbeat, StartupPolicy
from starkrelay.forwarding import balance_wait
from starkrelay.forwarding import service as forwarding
from starkrelay.forwarding.worker import ForwardingWorker
from starkrelay.invoicing import scheduler as invoicing
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.reconciliation import service as reconciliation
from starkrelay.reconciliation.report import MoneyReport
from starkrelay.webhooks.registration import webhook_registered_at_start


def build_worker(services: Services, name: str | None = None) -> ForwardingWorker:
    """A forwarding worker for this process (consumer ``forwarding.consumer_name``), or
    consumer ``name``."""
    settings = services.settings
    return forwarding.build_worker(
        services.redis,
        services.keys,
        services.bank,
        settings,
        name or forwarding.consumer_name(settings, services.role),
    )


def campaign_runner(services: Services) -> invoicing.CampaignRunner:
    """The campaign's tick for this process."""
    issuer = SlotIssuer(services.settings, services.redis, services.keys, services.bank)
    return invoicing.CampaignRunner(issuer)


async def run_reconciliation(services: Services, since: date | None = None) -> MoneyReport:
    """``reconciliation.run_reconciliation`` with this process's Redis and Stark Bank."""
    return await reconciliation.run_reconciliation(
        services.redis, services.keys, services.bank, services.settings, since
    )


# --- background parts -----------------------------------------------------------------------
@asynccontextmanager
async def webhook_registration(
    services: Services, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Registers our webhook once at start (``registration``)."""
    async with webhook_registered_at_start(
        services.bank, services.redis, services.keys, services.settings, heartbeat
    ):
        yield


@asynccontextmanager
async def campaign_scheduler(
    services: Services, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Issues the campaign's due slots (``invoicing.scheduler``)."""
    async with invoicing.campaign_scheduler(campaign_runner(services), heartbeat):
        yield


@asynccontextmanager
async def forwarding_worker(
    services: Services, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Forwards credited invoices (``forwarding.service``)."""
    startup = StartupPolicy.from_settings(services.settings)
    async with forwarding.forwarding_worker(build_worker(services), startup, heartbeat):
        yield


@asynccontextmanager
async def balance_waiter(
    services: Services, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Releases forwards waiting for the balance (``forwarding.balance_wait``)."""
    settings = services.settings
    async with balance_wait.balance_waiter(
        services.redis,
        services.keys,
        services.bank,
        settings.forward_balance_check_seconds,
        heartbeat,
        StartupPolicy.from_settings(settings),
    ):
        yield


@asynccontextmanager
async def reconciliation_scheduler(
    services: Services, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Reconciles daily (``reconciliation.service``)."""

    async def run() -> MoneyReport:
        return await run_reconciliation(services)

    async with reconciliation.reconciliation_scheduler(services.settings, run, heartbeat):
        yield
