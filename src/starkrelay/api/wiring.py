"""How a process runs each feature with its ``Services``: the edge where the container meets
the features.

Features (forwarding, invoicing, reconciliation, registration) take plain arguments and never
import ``Services``; the app, the routes and the commands call them through the adapters here.
Each background part is ``part(services, heartbeat)`` (see ``app.BACKGROUND``), an async
context manager; its name is the name readiness and liveness report. Periodic parts run
through the one helper ``core.supervision.every``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date
from functools import partial

import anyio

from starkrelay.api.deps import Services
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.supervision import Heartbeat, every, wait_for_redis
from starkrelay.forwarding import balance_wait
from starkrelay.forwarding import service as forwarding
from starkrelay.forwarding.worker import ForwardingWorker
from starkrelay.invoicing import scheduler as invoicing
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.reconciliation import service as reconciliation
from starkrelay.reconciliation.report import MoneyReport
from starkrelay.webhooks.registration import webhook_registered_at_start

Part = AbstractAsyncContextManager[None]


def build_worker(
    services: Services, name: str | None = None, read_turn: anyio.Lock | None = None
) -> ForwardingWorker:
    """A forwarding worker for this process (consumer ``forwarding.consumer_name``), or
    consumer ``name``; the consumers of one process share ``read_turn``."""
    settings = services.settings
    return forwarding.build_worker(
        services.store,
        services.bank,
        settings,
        name or forwarding.consumer_name(settings, services.role),
        read_turn,
    )


def campaign_runner(services: Services) -> invoicing.CampaignRunner:
    """The campaign's tick for this process."""
    issuer = SlotIssuer(services.settings, services.store, services.bank)
    return invoicing.CampaignRunner(issuer)


async def run_reconciliation(services: Services, since: date | None = None) -> MoneyReport:
    """``reconciliation.run_reconciliation`` with this process's Redis and Stark Bank."""
    return await reconciliation.run_reconciliation(
        services.store, services.bank, services.settings, since
    )


# --- background parts -----------------------------------------------------------------------
def webhook_registration(services: Services, heartbeat: Heartbeat | None = None) -> Part:
    """Registers our webhook once at start (``registration``)."""
    s = services
    return webhook_registered_at_start(s.bank, s.store, s.settings, heartbeat)


def forwarding_worker(services: Services, heartbeat: Heartbeat | None = None) -> Part:
    """Forwards credited invoices (``forwarding.service``), ``FORWARD_CONCURRENCY`` batches
    at once."""
    startup = RetryPolicy.startup(services.settings)
    names = forwarding.consumer_names(services.settings, services.role)
    read_turn = anyio.Lock()
    workers = [build_worker(services, name, read_turn) for name in names]
    return forwarding.forwarding_worker(workers, startup, heartbeat)


def campaign_scheduler(services: Services, heartbeat: Heartbeat | None = None) -> Part:
    """Issues the campaign's due slots: a tick every ``invoicing.tick_seconds``, once Redis
    answers; a tick that hangs shows as a stale part."""
    s = services.settings
    tick = invoicing.tick_seconds(s.campaign_interval_seconds, s.campaign_grace_seconds)
    return every(tick, campaign_runner(services).tick, heartbeat, startup=_redis_first(services))


def balance_waiter(services: Services, heartbeat: Heartbeat | None = None) -> Part:
    """Releases the forwards waiting for the balance that it covers, a pass every
    ``FORWARD_BALANCE_CHECK_SECONDS`` once Redis answers (``forwarding.balance_wait``)."""
    s = services
    one_pass = partial(balance_wait.background_pass, s.store, s.bank)
    period = s.settings.forward_balance_check_seconds
    return every(period, one_pass, heartbeat, startup=_redis_first(services))


def reconciliation_scheduler(services: Services, heartbeat: Heartbeat | None = None) -> Part:
    """Reconciles daily at ``RECONCILE_CRON`` (``reconciliation.service``); beats go on while
    a run, which may be long, is in progress."""
    daily = reconciliation.DailyReconciliation(
        services.settings, partial(run_reconciliation, services)
    )
    return every(daily.seconds_to_next, daily.run, heartbeat, watch_job=False)


def _redis_first(services: Services) -> Callable[[Heartbeat], Awaitable[None]]:
    """A part's start-up: wait until Redis answers (``STARTUP_RETRY_*``)."""
    return partial(wait_for_redis, services.store.redis, RetryPolicy.startup(services.settings))
