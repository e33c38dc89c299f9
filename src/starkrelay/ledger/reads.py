"""Reads of the ledger that move nothing: the waiting and the held forwards, the hinted
look-ups, the balance wait's last pass (kept for ``status``), a day's outflow budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from starkrelay.core.store import Store


@dataclass(frozen=True)
class Parked:
    """One forward parked in the ledger, waiting for the balance or held for a person."""

    invoice_id: str
    since: float
    """When it began to wait (held: when it was first held)."""
    attempt: int
    amount: int
    gross_amount: int
    fee: int


@dataclass(frozen=True)
class Waiter(Parked):
    """One waiting invoice, as the ledger holds it."""


@dataclass(frozen=True)
class HeldForward(Parked):
    """One held invoice, as the ledger holds it."""

    held_at: float
    """When it was last held (the held index's score)."""
    reason: str
    """The limit that held it: ``max_amount``, ``daily_limit`` or ``hourly_count``."""


async def _still_at(
    store: Store, stage: str, members: object, amount: str, *extra: str
) -> list[tuple[dict[str, Any], float, list[str | None]]]:
    """The index ``members`` (``(invoice id, score)`` pairs) whose ledger is still at
    ``stage``, oldest first: the fields ``Parked`` shares (the amount read from the ledger's
    ``amount`` field), the score and the ``extra`` fields. A member whose ledger is gone or
    has moved on is left out (``release_waiting`` removes waiting ones when it meets them)."""
    pairs = cast(list[tuple[str, float]], members)
    if not pairs:
        return []
    pipe = store.redis.pipeline(transaction=False)
    for invoice_id, _ in pairs:
        ledger = store.keys.webhook_ledger(invoice_id)
        pipe.hmget(ledger, "stage", "attempt", amount, "gross_amount", "fee", *extra)
    found = []
    for (invoice_id, score), row in zip(pairs, await pipe.execute(), strict=True):
        at, attempt, cents, gross, fee, *more = row
        if at == stage and attempt is not None and cents is not None:
            fields = {
                "invoice_id": str(invoice_id),
                "attempt": int(attempt),
                "amount": int(cents),
                "gross_amount": int(gross or cents),
                "fee": int(fee or 0),
            }
            found.append((fields, float(score), more))
    return found


async def waiting_count(store: Store) -> int:
    """How many invoices wait for the balance."""
    return int(await store.redis.zcard(store.keys.forward_waiting()))


async def list_waiting(store: Store, limit: int = 1000) -> list[Waiter]:
    """Up to `limit` waiting invoices, oldest first, with their ledgers' attempt and amounts
    (see ``_still_at``)."""
    members = await store.redis.zrange(store.keys.forward_waiting(), 0, limit - 1, withscores=True)
    rows = await _still_at(store, "waiting", members, "amount")
    return [Waiter(**fields, since=score) for fields, score, _ in rows]


async def save_balance_check(store: Store, fields: Mapping[str, str]) -> None:
    """Keep the outcome of the last balance check (``Keys.balance_wait_check``) for status."""
    await store.redis.hset(
        store.keys.balance_wait_check(), items=[v for pair in fields.items() for v in pair]
    )


async def last_balance_check(store: Store) -> dict[str, str]:
    """The fields ``save_balance_check`` kept last (empty before the first check)."""
    raw = await store.redis.hgetall(store.keys.balance_wait_check())
    return {str(name): str(value) for name, value in raw.items()}


async def take_hints(store: Store, limit: int = 100) -> dict[str, list[str]]:
    """Up to `limit` hinted invoices (invoice id -> the transfer ids events named), removed
    from the hints as they are read: a look-up that fails puts them back (``put_hints``)."""
    raw = cast(list[str], await store.redis.hkeys(store.keys.forward_hints()))[:limit]
    if not raw:
        return {}
    pipe = store.redis.pipeline(transaction=True)
    pipe.hmget(store.keys.forward_hints(), raw)
    pipe.hdel(store.keys.forward_hints(), *raw)
    values, _ = await pipe.execute()
    return {k: str(v).split() for k, v in zip(raw, values, strict=True) if v is not None}


async def put_hints(store: Store, hints: Mapping[str, list[str]]) -> None:
    """Schedule the look-ups of `hints` again (a look-up that failed), with any id an event
    named meanwhile."""
    if not hints:
        return
    meanwhile = await store.redis.hmget(store.keys.forward_hints(), list(hints))
    merged = {
        invoice_id: " ".join(dict.fromkeys([*ids, *(str(now or "").split())]))
        for (invoice_id, ids), now in zip(hints.items(), meanwhile, strict=True)
    }
    await store.redis.hset(store.keys.forward_hints(), items=[v for p in merged.items() for v in p])


async def held_count(store: Store) -> int:
    """How many invoices are held for a person's approval."""
    return int(await store.redis.zcard(store.keys.forward_held()))


async def held_cents(store: Store) -> int:
    """Cents held for a person's approval (kept by the scripts as forwards are held and
    leave ``held``)."""
    return int(await store.redis.hget(store.keys.forward_counters(), "held_now_cents") or 0)


async def list_held(
    store: Store, limit: int = 1000, *, held_before: float | None = None
) -> list[HeldForward]:
    """Up to `limit` held invoices, oldest hold first, with their ledgers' attempt, amounts
    and reason; only those last held before `held_before` when given. A member whose ledger
    is gone or no longer ``held`` is left out."""
    index = store.keys.forward_held()
    if held_before is None:
        raw = await store.redis.zrange(index, 0, limit - 1, withscores=True)
    else:
        raw = await store.redis.zrangebyscore(
            index, "-inf", f"({held_before}", start=0, num=limit, withscores=True
        )
    rows = await _still_at(store, "held", raw, "held_amount", "held_reason", "held_since")
    return [
        HeldForward(**fields, held_at=score, since=float(since or score), reason=str(reason or ""))
        for fields, score, (reason, since) in rows
    ]


@dataclass(frozen=True)
class DayBudget:
    """One day's (or hour's) outflow as counted by ``ledger.budget``."""

    used: int = 0
    """Cents (an hour: forwards) reserved or confirmed."""
    count: int = 0
    confirmed: int = 0
    """Cents Stark Bank accepted."""
    confirmed_count: int = 0


async def day_budget(store: Store, day: str) -> DayBudget:
    """What ``day`` (``YYYY-MM-DD``) has used of its budget."""
    raw = await store.redis.hgetall(store.keys.forward_budget(day))
    return DayBudget(**{name: int(raw.get(name, 0)) for name in DayBudget.__dataclass_fields__})


async def hour_count(store: Store, hour: str) -> int:
    """Forwards counted in ``hour`` (``YYYY-MM-DDTHH``)."""
    return int(await store.redis.hget(store.keys.forward_budget_hour(hour), "used") or 0)
