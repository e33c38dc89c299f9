"""Running reconciliation: one at a time across replicas, daily and on demand.

``run_reconciliation`` takes a Redis lock (owner token, expiry), runs the sweep, stores the
report (``GET /api/v1/status`` and metrics show it) and releases the lock. The daily job is an
APScheduler cron in ``RECONCILE_TIMEZONE``; every replica schedules it and the lock lets one
run it. The CLI (``starkrelay reconcile``) and ``POST /api/v1/admin/reconcile`` call the same
function.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from redis.exceptions import RedisError

from starkrelay import store
from starkrelay.bank import BankError
from starkrelay.deps import Services
from starkrelay.forwarding.transfers import Destination
from starkrelay.ops import relay_metrics as metrics
from starkrelay.reconciliation.report import MoneyReport, store_report
from starkrelay.reconciliation.sweep import SweepConfig, reconcile

log = structlog.get_logger(__name__)

LOCK_SECONDS = 900.0
"""A crashed run's lock frees itself after this long."""


class ReconciliationBusy(Exception):
    """Another process is reconciling right now."""


def default_since(services: Services, today: date | None = None) -> date:
    """``RECONCILE_LOOKBACK_DAYS`` before today in ``RECONCILE_TIMEZONE``."""
    settings = services.settings
    today = today or datetime.now(ZoneInfo(settings.reconcile_timezone)).date()
    return today - timedelta(days=settings.reconcile_lookback_days)


async def run_reconciliation(services: Services, since: date | None = None) -> MoneyReport:
    """Reconcile since `since` (default: the lookback window), store and return the report.

    Raises ReconciliationBusy when another run holds the lock; Bank and Redis errors
    propagate (nothing is marked delivered past the failure; the next run continues)."""
    settings = services.settings
    lock, token = services.keys.reconcile_lock(), store.new_token()
    if not await store.claim(services.redis, lock, token, LOCK_SECONDS):
        metrics.RECONCILE_RUNS.labels("busy").inc()
        raise ReconciliationBusy("a reconciliation is already running; try again later")
    try:
        config = SweepConfig(
            since=since or default_since(services),
            max_resends=settings.forward_max_resends,
            replay_window_seconds=settings.webhook_replay_window_seconds,
            workspace_id=settings.stark_workspace_id,
            lost_entry_min_age_seconds=settings.forward_claim_idle_seconds,
            destination=Destination.from_settings(settings),
        )
        report = await reconcile(services.redis, services.keys, services.bank, config)
        await store_report(
            services.redis, services.keys, report, history=settings.reconcile_report_history
        )
    except Exception:
        metrics.RECONCILE_RUNS.labels("failed").inc()
        raise
    finally:
        await store.release(services.redis, lock, token)
    metrics.RECONCILE_RUNS.labels("ok").inc()
    return report


async def scheduled_reconciliation(services: Services) -> None:
    """The daily job: never raises (the next day, or a manual run, retries)."""
    try:
        await run_reconciliation(services)
    except ReconciliationBusy:
        log.info("reconcile.skipped.busy")
    except (BankError, RedisError) as exc:
        log.error("reconcile.failed", error=str(exc), kind=type(exc).__name__)


def daily_scheduler(services: Services) -> AsyncIOScheduler:
    """A (not started) scheduler with the daily job at ``RECONCILE_CRON`` in
    ``RECONCILE_TIMEZONE``; must be built inside the running event loop."""
    settings = services.settings
    zone = ZoneInfo(settings.reconcile_timezone)
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=zone)
    scheduler.add_job(
        scheduled_reconciliation,
        CronTrigger.from_crontab(settings.reconcile_cron, timezone=zone),
        args=[services],
        id="reconcile.daily",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    return scheduler


@asynccontextmanager
async def reconciliation_scheduler(services: Services) -> AsyncIterator[None]:
    """Background part: the daily reconciliation at ``RECONCILE_CRON``."""
    settings = services.settings
    scheduler = daily_scheduler(services)
    scheduler.start()
    log.info(
        "reconcile.scheduler.started",
        cron=settings.reconcile_cron,
        timezone=settings.reconcile_timezone,
    )
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
