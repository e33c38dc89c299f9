"""Reads of the ledger that move nothing: the waiting and the held forwards, the hinted
look-ups, the balance wait's last pass (kept for ``status``), a day's outflow budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from starkrelay.core.store.connection import Redis
from starkrelay.core.store.keys import Keys


@dataclass(frozen=True)
class Waiter:
    """One waiting invoice, as the ledger holds it."""

    invoice_id: str
    since: float
    attempt: int
    amount: int
    gross_amount: int
    fee: int


async def waiting_count(redis: Redis, keys: Keys) -> int:
    """How many invoices wait for the balance."""
    return int(await redis.zcard(keys.forward_waiting()))


async def list_waiting(redis: Redis, keys: Keys, limit: int = 1000) -> list[Waiter]:
    """Up to `limit` waiting invoices, oldest first, with their ledgers' attempt and amounts.

    A member whose ledger is gone or no longer ``waiting`` is left out (``release_waiting``
    removes such members when it meets them)."""
    members = cast(
        list[tuple[str, float]],
        await redis.zrange(keys.forward_waiting(), 0, limit - 1, withscores=True),
    )
    if not members:
        return []
    pipe = redis.pipeline(transaction=False)
    for invoice_id, _ in members:
        ledger = keys.webhook_ledger(invoice_id)
        pipe.hmget(ledger, "stage", "attempt", "amount", "gross_amount", "fee")
    rows = await pipe.execute()
    found: list[Waiter] = []
    for (invoice_id, score), (stage, attempt, amount, gross, fee) in zip(
        members, rows, strict=True
    ):
        if stage != "waiting" or attempt is None or amount is None:
            continue
        found.append(
            Waiter(
                invoice_id=str(invoice_id),
                since=float(score),
                attempt=int(attempt),
                amount=int(amount),
                gross_amount=int(gross or amount),
                fee=int(fee or 0),
            )
        )
    return found


async def save_balance_check(redis: Redis, keys: Keys, fields: Mapping[str, str]) -> None:
    """Keep the outcome of the last balance check (``Keys.balance_wait_check``) for status."""
    await redis.hset(keys.balance_wait_check(), items=[v for pair in fields.items() for v in pair])


async def last_balance_check(redis: Redis, keys: Keys) -> dict[str, str]:
    """The fields ``save_balance_check`` kept last (empty before the first check)."""
    raw = await redis.hgetall(keys.balance_wait_check())
    return {str(name): str(value) for name, value in raw.items()}


async def take_hints(redis: Redis, keys: Keys, limit: int = 100) -> dict[str, str]:
    """Up to `limit` hinted invoices (invoice id -> the transfer id an event named), removed
    from the hints as they are read: a look-up that fails puts them back (``put_hints``)."""
    raw = cast(list[str], await redis.hkeys(keys.forward_hints()))[:limit]
    if not raw:
        return {}
    pipe = redis.pipeline(transaction=True)
    pipe.hmget(keys.forward_hints(), raw)
    pipe.hdel(keys.forward_hints(), *raw)
    values, _ = await pipe.execute()
    return {k: str(v) for k, v in zip(raw, values, strict=True) if v is not None}


async def put_hints(redis: Redis, keys: Keys, hints: Mapping[str, str]) -> None:
    """Schedule the look-ups of `hints` again (a look-up that failed)."""
    if hints:
        await redis.hset(keys.forward_hints(), items=[v for pair in hints.items() for v in pair])


@dataclass(frozen=True)
class HeldForward:
    """One held invoice, as the ledger holds it."""

    invoice_id: str
    held_at: float
    """When it was last held (the held index's score)."""
    since: float
    """When it was first held."""
    attempt: int
    amount: int
    gross_amount: int
    fee: int
    reason: str
    """The limit that held it: ``max_amount``, ``daily_limit`` or ``hourly_count``."""


async def held_count(redis: Redis, keys: Keys) -> int:
    """How many invoices are held for a person's approval."""
    return int(await redis.zcard(keys.forward_held()))


async def held_cents(redis: Redis, keys: Keys) -> int:
    """Cents held for a person's approval (kept by the scripts as forwards are held and
    leave ``held``)."""
    return int(await redis.hget(keys.forward_counters(), "held_now_cents") or 0)


async def list_held(
    redis: Redis, keys: Keys, limit: int = 1000, *, held_before: float | None = None
) -> list[HeldForward]:
    """Up to `limit` held invoices, oldest hold first, with their ledgers' attempt, amounts
    and reason; only those last held before `held_before` when given. A member whose ledger
    is gone or no longer ``held`` is left out."""
    index = keys.forward_held()
    if held_before is None:
        raw = await redis.zrange(index, 0, limit - 1, withscores=True)
    else:
        raw = await redis.zrangebyscore(
            index, "-inf", f"({held_before}", start=0, num=limit, withscores=True
        )
    members = cast(list[tuple[str, float]], raw)
    if not members:
        return []
    pipe = redis.pipeline(transaction=False)
    for invoice_id, _ in members:
        pipe.hmget(
            keys.webhook_ledger(invoice_id),
            "stage", "attempt", "held_amount", "gross_amount", "fee", "held_reason", "held_since",
        )  # fmt: skip
    rows = await pipe.execute()
    found: list[HeldForward] = []
    for (invoice_id, score), row in zip(members, rows, strict=True):
        stage, attempt, amount, gross, fee, reason, since = row
        if stage != "held" or attempt is None or amount is None:
            continue
        found.append(
            HeldForward(
                invoice_id=str(invoice_id),
                held_at=float(score),
                since=float(since or score),
                attempt=int(attempt),
                amount=int(amount),
                gross_amount=int(gross or amount),
                fee=int(fee or 0),
                reason=str(reason or ""),
            )
        )
    return found


@dataclass(frozen=True)
class DayBudget:
    """One day's (or hour's) outflow as counted by ``ledger.budget``."""

    used: int = 0
    """Cents (an hour: forwards) reserved or confirmed."""
    count: int = 0
    confirmed: int = 0
    """Cents Stark Bank accepted."""
    confirmed_count: int = 0


async def day_budget(redis: Redis, keys: Keys, day: str) -> DayBudget:
    """What ``day`` (``YYYY-MM-DD``) has used of its budget."""
    raw = await redis.hgetall(keys.forward_budget(day))
    return DayBudget(**{name: int(raw.get(name, 0)) for name in DayBudget.__dataclass_fields__})


async def hour_count(redis: Redis, keys: Keys, hour: str) -> int:
    """Forwards counted in ``hour`` (``YYYY-MM-DDTHH``)."""
    return int(await redis.hget(keys.forward_budget_hour(hour), "used") or 0)
