"""What the worker asks before money leaves: is outflow paused, and does this forward fit the
limits. The rules, in the order the worker meets them:

1. every round, before reading any entry: paused -> read nothing, wait (``pause``);
2. after the ownership read, before any create, while any limit is set: each forward is
   counted against the day's budget and the hour's count, or held (``ledger.budget.reserve``:
   one script per entry, atomic across replicas). A held forward is acknowledged and waits
   for a person; nothing is created for it. With a daily or hourly limit set, a day's count
   starts from Stark Bank's listing of the forwards already sent that day
   (``ledger.budget.seed``: at the day's first forward, after Redis lost the count, or when
   limits are turned on mid-day). With no limit set (the default) nothing is counted, and the
   hot path pays only the pause checks;
3. right before ``transfer.create``: paused -> nothing is created, the entries stay pending
   (their delivery count set back), their reservations kept for when outflow resumes;
   else the create is marked in flight until it returns (``pause.enter_create``);
4. after the creates: each reservation is confirmed (Stark Bank holds the attempt's transfer)
   or released (nothing was created), or kept while no answer came
   (``ledger.budget.settle_reservations``).

Days and hours are those of ``RECONCILE_TIMEZONE`` (America/Sao_Paulo), the campaign's and the
daily reconciliation's clock. With ``FORWARD_RELEASE_HELD_NEXT_DAY`` the worker also enqueues
again, once a new day begins, the forwards held for an earlier day's budget or hour's count:
they are counted against today's (and held again if they do not fit).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog

from starkrelay import ledger
from starkrelay.bank import BankGateway
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.forwarding import pause
from starkrelay.forwarding.attempts import unique_transfers
from starkrelay.forwarding.reader import Entry
from starkrelay.ledger import Evidence, MoveOutcome, Stage, reads
from starkrelay.ledger.budget import LimitCode, Limits, Reservation, Settled
from starkrelay.ledger.identity import ForwardItem, parse_external_id

log = structlog.get_logger("starkrelay.forwarding.worker")

NEXT_DAY_CHECK_SECONDS = 30.0
"""How often a worker looks for forwards an earlier day held (only with the setting on)."""
NEXT_DAY_REASONS = frozenset({"daily_limit", "hourly_count"})
"""Holds a new day releases; a forward over ``FORWARD_MAX_AMOUNT`` always needs a person."""


class OutflowPaused(Exception):
    """Outflow was paused right before a create: nothing was created."""


@dataclass(frozen=True)
class OutflowConfig:
    limits: Limits = field(default_factory=Limits)
    timezone: str = "America/Sao_Paulo"
    release_held_next_day: bool = False
    create_ttl_seconds: float = 60.0
    """How long a create's in-flight mark outlives a worker that died mid-create: the
    longest a create can take with its retries."""

    @classmethod
    def from_settings(cls, settings: Settings) -> OutflowConfig:
        return cls(
            limits=Limits(
                max_amount=settings.forward_max_amount,
                daily_limit=settings.forward_daily_limit,
                hourly_count=settings.forward_hourly_count,
            ),
            timezone=settings.reconcile_timezone,
            release_held_next_day=settings.forward_release_held_next_day,
            create_ttl_seconds=settings.bank_retry_deadline_seconds
            + settings.bank_timeout_seconds
            + settings.bank_retry_max_wait_seconds
            + 5.0,
        )

    def local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, ZoneInfo(self.timezone))

    def day(self, now: float) -> str:
        """The budget's day of `now`: ``YYYY-MM-DD`` in the time zone."""
        return self.local(now).strftime("%Y-%m-%d")

    def hour(self, now: float) -> str:
        """The count's hour of `now`: ``YYYY-MM-DDTHH`` in the time zone."""
        return self.local(now).strftime("%Y-%m-%dT%H")

    def day_start(self, now: float) -> float:
        """Epoch seconds at which `now`'s day began in the time zone."""
        local = self.local(now)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True)
class Mark:
    """A reservation the worker holds for one entry, to confirm or release after the create."""

    invoice_id: str
    attempt: int
    mark: str


class Outflow:
    """The pause switch and the limits, as one worker (consumer ``consumer``) meets them."""

    def __init__(
        self, store: Store, bank: BankGateway, config: OutflowConfig, consumer: str
    ) -> None:
        self.store, self.bank = store, bank
        self.config, self.consumer = config, consumer
        self._next_day_check = 0.0

    async def paused(self) -> bool:
        return await pause.is_paused(self.store)

    async def admit(
        self, entries: Sequence[Entry], extra: Mapping[str, Mapping[str, str | int]]
    ) -> tuple[list[Entry], list[Mark]]:
        """Count each entry (ownership confirmed) or hold it. Returns the entries to send and
        the reservations to settle after the create; held and unsendable entries are
        acknowledged by the script. `extra`: per entry id, the ledger fields a hold writes."""
        if not entries or not self.config.limits.any:
            return list(entries), []
        now = time.time()
        if self.config.limits.daily_limit or self.config.limits.hourly_count:
            await self._seed(now)
        items = [e.readable_item for e in entries]
        done = await ledger.budget.reserve(
            self.store,
            self.config.limits,
            self.config.day(now),
            self.config.hour(now),
            [
                Reservation(e.id, i.invoice_id, i.attempt, i.amount, now, dict(extra.get(e.id, {})))
                for e, i in zip(entries, items, strict=True)
            ],
        )
        send: list[Entry] = []
        marks: list[Mark] = []
        for entry, item, result in zip(entries, items, done, strict=True):
            if result.code is LimitCode.RESERVED:
                send.append(entry)
                marks.append(Mark(item.invoice_id, item.attempt, result.detail))
            elif result.code is LimitCode.UNCOUNTED:
                send.append(entry)
            elif result.code is LimitCode.HELD:
                metrics.FORWARDS_HELD.labels(result.detail).inc()
                metrics.FORWARDS_HELD_CENTS.inc(item.amount)
                log.warning(
                    "forwarding.item.held",
                    invoice_id=item.invoice_id,
                    external_id=item.external_id,
                    amount=item.amount,
                    limit=result.detail,
                )
            else:
                log.info(
                    "forwarding.entry.not_sendable",
                    invoice_id=item.invoice_id,
                    entry_id=entry.id,
                    stage=result.detail,
                )
        return send, marks

    async def _seed(self, now: float) -> None:
        """Start today's count from Stark Bank's listing, once (see the module docstring).
        Raises ``BankError`` when the listing fails (the entries stay pending)."""
        day, hour = self.config.day(now), self.config.hour(now)
        if await ledger.budget.seeded(self.store, day):
            return
        start = self.config.day_start(now)
        hour_start = self.config.local(now).replace(minute=0, second=0, microsecond=0)
        listed = await self.bank.find_transfers(after=datetime.fromtimestamp(start, UTC).date())
        today = [
            t
            for t in unique_transfers(listed)
            if parse_external_id(t.external_id) and t.created and t.created.timestamp() >= start
        ]
        this_hour = [t for t in today if t.created and t.created >= hour_start]
        cents = sum(t.amount for t in today)
        started = await ledger.budget.seed(
            self.store, day, hour, now,
            cents=cents, day_count=len(today), hour_count=len(this_hour),
        )  # fmt: skip
        if started:
            log.info("forwarding.budget.seeded", day=day, cents=cents, forwards=len(today))

    async def settle(self, marks: Sequence[Mark]) -> None:
        """Confirm or release each reservation from what the ledger recorded."""
        if not marks:
            return
        done = await ledger.budget.settle_reservations(
            self.store, [(m.invoice_id, m.attempt, m.mark) for m in marks]
        )
        released = [m.invoice_id for m, one in zip(marks, done, strict=True)
                    if one is Settled.RELEASED]  # fmt: skip
        if released:
            log.info("forwarding.budget.released", invoices=released[:20], count=len(released))

    @asynccontextmanager
    async def creating(self) -> AsyncIterator[None]:
        """Around one ``transfer.create``: ``OutflowPaused`` while paused (nothing created),
        else the create is marked in flight until the block ends."""
        member = f"{self.consumer}:{secrets.token_hex(6)}"
        if not await pause.enter_create(self.store, member, self.config.create_ttl_seconds):
            raise OutflowPaused
        try:
            yield
        finally:
            await pause.leave_create(self.store, member)

    async def release_next_day(self, now: float | None = None) -> int:
        """With ``FORWARD_RELEASE_HELD_NEXT_DAY``: enqueue again (at most every
        ``NEXT_DAY_CHECK_SECONDS``) the forwards held for the budget or the hour's count
        before today began. Returns how many were enqueued."""
        moment = time.time() if now is None else now
        if not self.config.release_held_next_day or moment < self._next_day_check:
            return 0
        self._next_day_check = moment + NEXT_DAY_CHECK_SECONDS
        return await release_held_before(self.store, self.config.day_start(moment), moment)


async def release_held_before(store: Store, day_start: float, now: float) -> int:
    """Enqueue again (held -> queued, evidence ``next_day``, the same attempt) every forward
    held for the budget or the hour's count before `day_start`; guarded like every move, so
    replicas racing enqueue each once."""
    released = 0
    for held in await reads.list_held(store, held_before=day_start):
        if held.reason not in NEXT_DAY_REASONS:
            continue
        item = ForwardItem(
            held.invoice_id, held.amount, held.gross_amount, held.fee, held.attempt, "next_day"
        )
        outcome, entry_id = await ledger.requeue(
            store,
            item,
            expected=[Stage.HELD],
            expected_attempt=held.attempt,
            evidence=Evidence.NEXT_DAY,
            now=now,
            ledger_fields={f"released_next_day:{held.attempt}": f"{now:.6f}"},
            counter="items_released_next_day",
        )
        if outcome is MoveOutcome.MOVED:
            released += 1
            log.warning(
                "forwarding.held.released_next_day",
                invoice_id=held.invoice_id,
                amount=held.amount,
                held_reason=held.reason,
                entry_id=entry_id,
            )
    return released


async def outflow_summary(
    store: Store, config: OutflowConfig, now: float | None = None
) -> dict[str, object]:
    """What ``status`` shows of the outflow controls: the pause (who, when, creates still in
    flight), the limits, today's and this hour's counts, the held forwards (up to 20 listed)
    and the last pauses and resumes."""
    moment = time.time() if now is None else now
    day, hour = config.day(moment), config.hour(moment)
    today = await reads.day_budget(store, day)
    this_hour = await reads.hour_count(store, hour)
    held = await reads.list_held(store, limit=20)
    counters = await store.redis.hmget(
        store.keys.forward_counters(), "items_held", "items_approved", "items_rejected"
    )
    limits = config.limits

    def left(limit: int, used: int) -> int | None:
        return max(0, limit - used) if limit else None

    return {
        "pause": (await pause.pause_state(store)).as_dict(),
        "limits": {
            "max_amount": limits.max_amount or None,
            "daily_limit": limits.daily_limit or None,
            "hourly_count": limits.hourly_count or None,
            "release_held_next_day": config.release_held_next_day,
            "timezone": config.timezone,
        },
        "today": {
            "day": day,
            "counted_cents": today.used,
            "counted_forwards": today.count,
            "accepted_cents": today.confirmed,
            "accepted_forwards": today.confirmed_count,
            "left_cents": left(limits.daily_limit, today.used),
        },
        "this_hour": {
            "hour": hour,
            "forwards": this_hour,
            "left": left(limits.hourly_count, this_hour),
        },
        "held": {
            "invoices": await reads.held_count(store),
            "cents": await reads.held_cents(store),
            "oldest_since": min((h.since for h in held), default=None),
            "items_held": int(counters[0] or 0),
            "items_approved": int(counters[1] or 0),
            "items_rejected": int(counters[2] or 0),
            "first": [held_row(h) for h in held],
        },
        "recent_actions": await pause.pause_log(store, 10),
    }


def held_row(held: reads.HeldForward) -> dict[str, object]:
    """One held forward as the API and the status show it."""
    return {
        "invoice_id": held.invoice_id,
        "amount": held.amount,
        "attempt": held.attempt,
        "limit": held.reason,
        "held_since": held.since,
        "held_at": held.held_at,
    }
