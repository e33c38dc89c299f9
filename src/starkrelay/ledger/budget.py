"""The outflow limits' steps: count a forward against the day's budget and the hour's count
before its create, or hold it; then confirm the count or release it.

``reserve`` runs the ``LIMIT`` script once per entry (all in one round trip, each atomic on its
own), so two workers racing for the last of a budget can never both pass it: the second sees
the first's reservation. A reservation is marked in the invoice's ledger (``budget:<attempt>``
= ``<day>|<hour>|<amount>``, ``budget_state:<attempt>``), so a redelivered entry of the same
attempt (a crash, a lost answer, a new day) reuses it instead of counting twice.

``settle_reservations`` runs ``BUDGET`` once per reservation after the creates: the ledger
recorded a transfer of the attempt (Stark Bank accepted it) -> confirmed; the ledger still
holds the attempt ``queued`` (no answer yet: a timeout, Stark Bank down) -> kept, so the day's
total stays on the safe side; anything else (refused, waiting for the balance, dead-lettered)
-> released, since nothing was created. The day's ``confirmed`` total counts only what Stark
Bank accepted; ``used`` also counts what is on its way.

A forward a person approved (``approved_at`` in its ledger) is counted but never held.

``seed`` starts a day's count from what Stark Bank lists as already sent that day, once (the
day's hash keeps ``seeded``): at the day's first forward, after Redis lost the day's count
(so a data loss never resets the day's budget to zero), or when limits are turned on mid-day.
The listing replaces the confirmed total when it is larger; reservations not yet confirmed
stay on top. A transfer both listed and still reserved is counted twice until its
reservation is confirmed, which can only hold more, never send more.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from starkrelay.core.store import Store
from starkrelay.core.store.batching import pipelined
from starkrelay.ledger import scripts
from starkrelay.ledger.steps import FORWARD_GROUP, LEDGER_TTL_SECONDS, Fields, script_keys

BUDGET_TTL_SECONDS = 3 * 86400
"""How long one day's (and one hour's) counts are kept after their last change."""


class LimitCode(enum.IntEnum):
    """What ``reserve`` did with one entry."""

    RESERVED = 1
    """Counted (now, or by an earlier delivery of the same attempt): send it."""
    HELD = 2
    """Sending it would pass a limit: moved to ``held``, the entry acknowledged; nothing to
    send (detail: ``max_amount``, ``daily_limit`` or ``hourly_count``)."""
    UNCOUNTED = 3
    """The ledger is past ``queued`` for this attempt (detail: its stage): a repeat, sent as
    before and guarded by its ``external_id``; not counted again."""
    NOT_SENDABLE = 4
    """The invoice is ``held`` or ``rejected``: the entry is acknowledged, nothing sent."""


HOLD_REASONS = ("max_amount", "daily_limit", "hourly_count")
"""Every limit that can hold a forward (a bounded set: it labels a metric)."""


@dataclass(frozen=True)
class Limits:
    """Outflow limits; 0 is no limit."""

    max_amount: int = 0
    """Cents one forward may send (``FORWARD_MAX_AMOUNT``)."""
    daily_limit: int = 0
    """Cents all forwards may send in one day (``FORWARD_DAILY_LIMIT``)."""
    hourly_count: int = 0
    """Forwards in one hour (``FORWARD_HOURLY_COUNT``)."""

    @property
    def any(self) -> bool:
        return bool(self.max_amount or self.daily_limit or self.hourly_count)


@dataclass(frozen=True)
class Reservation:
    """One forward to count before its create."""

    entry_id: str
    invoice_id: str
    attempt: int
    amount: int
    now: float
    ledger_fields: Fields
    """Written to the ledger when the forward is held (the ownership read's amounts)."""


@dataclass(frozen=True)
class Reserved:
    code: LimitCode
    detail: str
    """The mark (``RESERVED``), the limit (``HELD``) or the ledger's stage."""


async def reserve(
    store: Store,
    limits: Limits,
    day: str,
    hour: str,
    reservations: Sequence[Reservation],
) -> list[Reserved]:
    """Count each forward against ``day``'s budget and ``hour``'s count, or hold it; each
    atomically, all in one round trip, in order."""
    calls: list[list[str | int]] = []
    for r in reservations:
        pairs = [str(v) for pair in r.ledger_fields.items() for v in pair]
        calls.append(
            [
                *script_keys(store.keys, r.invoice_id),
                store.keys.forward_budget(day),
                store.keys.forward_budget_hour(hour),
                FORWARD_GROUP,
                r.entry_id,
                r.invoice_id,
                r.attempt,
                r.amount,
                f"{r.now:.6f}",
                LEDGER_TTL_SECONDS,
                limits.max_amount,
                limits.daily_limit,
                limits.hourly_count,
                day,
                hour,
                BUDGET_TTL_SECONDS,
                len(pairs) // 2,
                *pairs,
            ]
        )
    results = await pipelined(store.redis, scripts.LIMIT, len(scripts.KEY_NAMES) + 2, calls)
    return [Reserved(LimitCode(int(code)), str(detail)) for code, detail in results]


class Settled(enum.IntEnum):
    """What ``settle_reservations`` did with one reservation."""

    KEPT = 0
    """Still on its way (no answer yet), or no such reservation: nothing changed."""
    CONFIRMED = 1
    """Stark Bank holds the attempt's transfer: counted as accepted."""
    RELEASED = 2
    """Nothing was created: the amount and the count are given back."""


async def settle_reservations(store: Store, marks: Sequence[tuple[str, int, str]]) -> list[Settled]:
    """Confirm or release each reservation ``(invoice_id, attempt, mark)`` from what the
    ledger recorded (module docstring); idempotent, all in one round trip."""
    calls: list[list[str | int]] = []
    for invoice_id, attempt, mark in marks:
        day, hour, _ = mark.split("|")
        calls.append(
            [
                store.keys.webhook_ledger(invoice_id),
                store.keys.forward_budget(day),
                store.keys.forward_budget_hour(hour),
                attempt,
                mark,
            ]
        )
    return [Settled(int(code)) for code in await pipelined(store.redis, scripts.BUDGET, 3, calls)]


async def seeded(store: Store, day: str) -> bool:
    """True once ``day``'s count was started (``seed``)."""
    return bool(await store.redis.hexists(store.keys.forward_budget(day), "seeded"))


async def seed(
    store: Store, day: str, hour: str, now: float, *, cents: int, day_count: int,
    hour_count: int,
) -> bool:  # fmt: skip
    """Start ``day``'s count at `cents` and `day_count` forwards (and ``hour``'s at
    `hour_count`), unless it was started before; True when this call started it."""
    call: list[str | int] = [store.keys.forward_budget(day), store.keys.forward_budget_hour(hour)]
    call += [f"{now:.6f}", cents, day_count, hour_count, BUDGET_TTL_SECONDS]
    [done] = await pipelined(store.redis, scripts.SEED, 2, [call])
    return bool(done)
