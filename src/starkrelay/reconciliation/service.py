"""Running reconciliation: one at a time across replicas, daily and on demand.

``run_reconciliation`` takes a Redis lock (owner token, expiry), runs the sweep, stores the
report and releases the lock. The daily job (``DailyReconciliation``) runs at
``RECONCILE_CRON`` in ``RECONCILE_TIMEZONE``; every replica schedules it and the lock lets one
run it. The CLI (``starkrelay reconcile``), ``POST /api/v1/admin/reconcile`` and the console
call the same function.

Two reports are kept apart. A run over the default window (no ``since``: the daily job, and
any run not given one) writes the last report and its history, which the metrics gauges, the
alerts, ``GET /api/v1/status`` and the console read. A run given its own ``since`` is ad-hoc:
its report is kept only as the last ad-hoc report (``load_adhoc_report``), so a window of an
operator's choosing never replaces the report the alerts judge. A ``since`` must be a day from
``EARLIEST_SINCE`` to today in ``RECONCILE_TIMEZONE`` (``SinceRefused`` says what is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from apscheduler.triggers.cron import CronTrigger
from redis.exceptions import RedisError

from starkrelay.bank import BankError, BankGateway
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, claim, new_token, release
from starkrelay.forwarding.transfers import Destination
from starkrelay.reconciliation.report import MoneyReport, store_report
from starkrelay.reconciliation.sweep import SweepConfig, reconcile

log = structlog.get_logger(__name__)

LOCK_SECONDS = 900.0
"""A crashed run's lock frees itself after this long."""


EARLIEST_SINCE = date(2000, 1, 1)
"""The earliest ``since`` taken: Stark Bank holds nothing older (and the SDK writes a year
before 1000 without its leading zeros, which the API refuses as a date)."""

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReconciliationBusy(Exception):
    """Another process is reconciling right now."""


class SinceRefused(ValueError):
    """A ``since`` that names no day a reconciliation can start from; the message says why
    and what is expected."""


def today_in(settings: Settings) -> date:
    """Today in ``RECONCILE_TIMEZONE``."""
    return datetime.now(ZoneInfo(settings.reconcile_timezone)).date()


def default_since(settings: Settings, today: date | None = None) -> date:
    """``RECONCILE_LOOKBACK_DAYS`` before today in ``RECONCILE_TIMEZONE``."""
    today = today or today_in(settings)
    return today - timedelta(days=settings.reconcile_lookback_days)


def parse_since(text: str) -> date:
    """The day ``text`` names, written ``YYYY-MM-DD``; ``SinceRefused`` otherwise."""
    shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
    if not _DAY.fullmatch(text):
        raise SinceRefused(f"since must be a day written YYYY-MM-DD (e.g. 2026-01-31), got {shown}")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise SinceRefused(f"since {shown} is not a day of the calendar: {error}") from None


def check_since(since: date, settings: Settings, today: date | None = None) -> None:
    """``SinceRefused`` unless ``since`` is from ``EARLIEST_SINCE`` to today in
    ``RECONCILE_TIMEZONE``."""
    today = today or today_in(settings)
    if since < EARLIEST_SINCE:
        raise SinceRefused(
            f"since {since.isoformat()} is before {EARLIEST_SINCE.isoformat()}: Stark Bank "
            f"holds nothing that old; give a day from {EARLIEST_SINCE.isoformat()} to today"
        )
    if since > today:
        raise SinceRefused(
            f"since {since.isoformat()} is after today ({today.isoformat()} in "
            f"{settings.reconcile_timezone}): there is nothing to reconcile from then; give a "
            "day up to today"
        )


async def store_adhoc_report(store: Store, report: MoneyReport) -> None:
    """Keep ``report`` as the last ad-hoc report (the daily report and history untouched)."""
    await store.redis.set(store.keys.reconcile_adhoc_report(), report.to_json())


async def load_adhoc_report(store: Store) -> MoneyReport | None:
    """The last ad-hoc report, or None when no run was given its own ``since``."""
    text = await store.redis.get(store.keys.reconcile_adhoc_report())
    return MoneyReport.from_json(str(text)) if text else None


async def run_reconciliation(
    store: Store, bank: BankGateway, settings: Settings, since: date | None = None
) -> MoneyReport:
    """Reconcile since `since` (default: the lookback window), store and return the report:
    as the last report without `since`, as the last ad-hoc report with it.

    Raises SinceRefused (before anything is done) for a `since` outside ``EARLIEST_SINCE`` to
    today; ReconciliationBusy when another run holds the lock; Bank and Redis errors propagate
    (nothing is marked delivered past the failure; the next run continues)."""
    if since is not None:
        check_since(since, settings)
    lock, token = store.keys.reconcile_lock(), new_token()
    if not await claim(store.redis, lock, token, LOCK_SECONDS):
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
        report = await reconcile(store, bank, config)
        if since is None:
            await store_report(store, report, history=settings.reconcile_report_history)
        else:
            await store_adhoc_report(store, report)
    except Exception:
        metrics.RECONCILE_RUNS.labels("failed").inc()
        raise
    finally:
        await release(store.redis, lock, token)
    metrics.RECONCILE_RUNS.labels("ok").inc()
    return report


Reconcile = Callable[[], Awaitable[MoneyReport]]
"""A reconciliation over the default window (``run_reconciliation`` with its arguments bound)."""


MISFIRE_GRACE_SECONDS = 3600.0
"""A daily run that would start later than this after its time (a machine asleep) is skipped."""


class DailyReconciliation:
    """The daily job, for ``core.supervision.every``: ``seconds_to_next`` is the wait for the
    next ``RECONCILE_CRON`` moment in ``RECONCILE_TIMEZONE`` (``due``); ``run`` reconciles then,
    unless it starts more than ``MISFIRE_GRACE_SECONDS`` late. ``run`` never raises Bank,
    Redis or busy errors (the next day, or a manual run, retries)."""

    def __init__(self, settings: Settings, reconcile: Reconcile) -> None:
        zone = ZoneInfo(settings.reconcile_timezone)
        self.trigger = CronTrigger.from_crontab(settings.reconcile_cron, timezone=zone)
        self.reconcile = reconcile
        self.due: datetime = datetime.now(UTC)

    def seconds_to_next(self) -> float:
        """Seconds until the next moment after ``due`` (which it then becomes)."""
        now = datetime.now(UTC)
        self.due = self.trigger.get_next_fire_time(None, max(now, self.due + timedelta(seconds=1)))
        return (self.due - now).total_seconds()

    async def run(self) -> None:
        late = (datetime.now(UTC) - self.due).total_seconds()
        if late > MISFIRE_GRACE_SECONDS:
            log.warning("reconcile.skipped.late", due=self.due.isoformat(), late=round(late))
            return
        try:
            await self.reconcile()
        except ReconciliationBusy:
            log.info("reconcile.skipped.busy")
        except (BankError, RedisError) as exc:
            log.error("reconcile.failed", error=str(exc), kind=type(exc).__name__)
