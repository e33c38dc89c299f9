"""Running reconciliation: one at a time across replicas, daily and on demand.

``run_reconciliation`` takes a Redis lock (owner token, expiry), runs the sweep, stores the
report (``GET /api/v1/status`` and metrics show it) and releases the lock. The daily job is an
APScheduler cron in ``RECONCILE_TIMEZONE``; every replica schedules it and the lock lets one
run it. The CLI (``starkrelay reconcile``) and ``POST /api/v1/admin/reconcile`` call the same
function.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.exceptions import RedisError

from starkrelay import store
from starkrelay.bank import BankError, BankGateway
from starkrelay.forwarding.transfers import Destination
from starkrelay.ops import relay_metrics as metrics
from starkrelay.ops.supervision import Heartbeat
from starkrelay.reconciliation.report import MoneyReport, store_report
from starkrelay.reconciliation.sweep import SweepConfig, reconcile
from starkrelay.settings import Settings
from starkrelay.store import Keys, Redis

log = structlog.get_logger(__name__)

LOCK_SECONDS = 900.0
"""A crashed run's lock frees itself after this long."""


class ReconciliationBusy(Exception):
    """Another process is reconciling right now."""


def default_since(settings: Settings, today: date | None = None) -> date:
    """``RECONCILE_LOOKBACK_DAYS`` before today in ``RECONCILE_TIMEZONE``."""
    today = today or datetime.now(ZoneInfo(settings.reconcile_timezone)).date()
    return today - timedelta(days=settings.reconcile_lookback_days)


async def run_reconciliation(
    redis: Redis, keys: Keys, bank: BankGateway, settings: Settings, since: date | None = None
) -> MoneyReport:
    """Reconcile since `since` (default: the lookback window), store and return the report.

    Raises ReconciliationBusy when another run holds the lock; Bank and Redis errors
    propagate (nothing is marked delivered past the failure; the next run continues)."""
    lock, token = keys.reconcile_lock(), store.new_token()
    if not await store.claim(redis, lock, token, LOCK_SECONDS):
        metrics.RECONCILE_RUNS.labels("busy").inc()
        raise ReconciliationBusy("a reconciliation is already running; try again later")
    try:
        config = SweepConfig(
            since=since or default_since(settings),
            max_resends=settings.forward_max_resends,
            replay_window_seconds=settings.webhook_replay_window_seconds,
            workspace_id=settings.stark_workspace_id,
            lost_entry_min_age_seconds=settings.forward_claim_idle_seconds,
            destination=Destination.from_settings(settings),
        )
        report = await reconcile(redis, keys, bank, config)
        await store_report(redis, keys, report, history=settings.reconcile_report_history)
    except Exception:
        metrics.RECONCILE_RUNS.labels("failed").inc()
        raise
    finally:
        await store.release(redis, lock, token)
    metrics.RECONCILE_RUNS.labels("ok").inc()
    return report


Reconcile = Callable[[], Awaitable[MoneyReport]]
"""A reconciliation over the default window (``run_reconciliation`` with its arguments bound)."""


async def scheduled_reconciliation(run: Reconcile) -> None:
    """The daily job: never raises (the next day, or a manual run, retries)."""
    try:
        await run()
    except ReconciliationBusy:
        log.info("reconcile.skipped.busy")
    except (BankError, RedisError) as exc:
        log.error("reconcile.failed", error=str(exc), kind=type(exc).__name__)


def daily_scheduler(settings: Settings, run: Reconcile) -> AsyncIOScheduler:
    """A (not started) scheduler with the daily job (``run``) at ``RECONCILE_CRON`` in
    ``RECONCILE_TIMEZONE``; must be built inside the running event loop."""
    zone = ZoneInfo(settings.reconcile_timezone)
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=zone)
    scheduler.add_job(
        scheduled_reconciliation,
        CronTrigger.from_crontab(settings.reconcile_cron, timezone=zone),
        args=[run],
        id="reconcile.daily",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    return scheduler


@asynccontextmanager
async def reconciliation_scheduler(
    settings: Settings, run: Reconcile, heartbeat: Heartbeat | None = None
) -> AsyncIterator[None]:
    """Background part: ``run`` daily at ``RECONCILE_CRON``. The same scheduler beats
    ``heartbeat`` every few seconds, so a scheduler that stopped running its jobs shows as a
    stale part."""
    scheduler = daily_scheduler(settings, run)
    if heartbeat is not None:
        scheduler.add_job(
            heartbeat.beat,
            IntervalTrigger(seconds=max(0.05, min(10.0, settings.heartbeat_timeout_seconds / 4))),
            id="reconcile.heartbeat",
            max_instances=1,
            coalesce=True,
        )
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
