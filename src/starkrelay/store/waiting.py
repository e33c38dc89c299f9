"""Forwards waiting for the balance: the waiting index and the one way out of ``waiting``.

An invoice enters ``waiting`` through the ledger scripts (``ledger.advance``: the worker
settles a refused entry as ``waiting``, or a ``failed`` transfer log with ``invalidbalance``
is recorded so), which also add it to the sorted set ``Keys.forward_waiting`` in the same
step. ``release_waiting`` takes it out again, atomically, only while the ledger still says
``waiting`` for the attempt the caller looked at, so two releasers racing (or a releaser that
read Stark Bank before a newer attempt was recorded) release it at most once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys
from starkrelay.store.ledger import _pairs, _run_script

# KEYS: ledger, stages, stream, waiting, counters
# ARGV: invoice_id, expected attempt, now, ledger_ttl, mode ("queue" | "record"), then
#   queue:  new attempt, stream pairs...
#   record: recorded attempt, recorded stage (sent | success), ledger pairs...
# Returns {code, detail}; codes as in ``ReleaseOutcome``.
_RELEASE_LUA = """
local invoice_id, expected, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local cur = redis.call('HMGET', KEYS[1], 'stage', 'attempt')
if cur[1] ~= 'waiting' or tonumber(cur[2]) ~= expected then
  if cur[1] ~= 'waiting' then redis.call('ZREM', KEYS[4], invoice_id) end
  return {0, (cur[1] or 'none') .. ':' .. (cur[2] or '-')}
end
redis.call('HINCRBY', KEYS[2], 'waiting', -1)
redis.call('ZREM', KEYS[4], invoice_id)
local code, detail = 1, ''
if ARGV[5] == 'queue' then
  local attempt = ARGV[6]
  local fields = {}
  for i = 7, #ARGV, 1 do fields[#fields + 1] = ARGV[i] end
  detail = redis.call('XADD', KEYS[3], '*', unpack(fields))
  redis.call('HINCRBY', KEYS[2], 'queued', 1)
  redis.call('HSET', KEYS[1], 'stage', 'queued', 'attempt', attempt, 'stage_at', now,
    'entry:' .. attempt, detail, 'released:' .. attempt, now)
  if tonumber(attempt) > expected then
    redis.call('HSET', KEYS[1], 'queued:' .. attempt, now)
    redis.call('HINCRBY', KEYS[1], 'balance_resends', 1)
  else
    redis.call('HSET', KEYS[1], 'requeued:' .. attempt, now)
  end
  redis.call('HINCRBY', KEYS[5], 'items_released', 1)
else
  code, detail = 2, ARGV[7]
  redis.call('HINCRBY', KEYS[2], ARGV[7], 1)
  redis.call('HSET', KEYS[1], 'stage', ARGV[7], 'attempt', ARGV[6], 'stage_at', now)
  for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('HINCRBY', KEYS[5], 'items_release_recorded', 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {code, detail}
"""

RECORDABLE_STAGES = ("sent", "success")


class ReleaseOutcome(enum.IntEnum):
    """What ``release_waiting`` / ``record_waiting_transfer`` found (and did)."""

    NOT_WAITING = 0
    """The ledger is no longer ``waiting`` for that attempt (detail ``<stage>:<attempt>``):
    someone else released it, or a newer attempt was recorded. Nothing done."""
    QUEUED = 1
    """The forward was added to the stream (detail: the new entry id)."""
    RECORDED = 2
    """A transfer Stark Bank holds was recorded instead (detail: the stage)."""


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


def _keys(keys: Keys, invoice_id: str) -> list[str]:
    return [
        keys.webhook_ledger(invoice_id),
        keys.ledger_stages(),
        keys.forward_stream(),
        keys.forward_waiting(),
        keys.forward_counters(),
    ]


async def release_waiting(
    redis: Redis,
    keys: Keys,
    *,
    invoice_id: str,
    waiting_attempt: int,
    attempt: int,
    now: float,
    ledger_ttl_seconds: int,
    stream_fields: Mapping[str, str | int],
) -> tuple[ReleaseOutcome, str]:
    """Put a waiting forward back on the stream as `attempt`; one atomic step.

    Only while the ledger is ``waiting`` at `waiting_attempt`. `attempt` is either
    `waiting_attempt` itself (its create was refused: Stark Bank holds no transfer under that
    ``external_id``, so the same id is safe) or a later one (Stark Bank reported the earlier
    transfer ``failed``); a later one sets ``queued:<attempt>`` (so no other path enqueues it
    too) and counts one ``balance_resends``. The ledger moves to ``queued`` with the entry id
    in ``entry:<attempt>``, the invoice leaves the waiting index, ``items_released`` grows.
    Callers must first read Stark Bank: no live transfer, and the waiting attempt failed or
    absent.
    """
    if attempt < waiting_attempt:
        raise ValueError(f"attempt {attempt} is older than the waiting one ({waiting_attempt})")
    result = await _run_script(
        redis,
        _RELEASE_LUA,
        5,
        *_keys(keys, invoice_id),
        invoice_id,
        waiting_attempt,
        f"{now:.6f}",
        ledger_ttl_seconds,
        "queue",
        attempt,
        *_pairs(stream_fields),
    )
    code, detail = cast(list[Any], result)
    return ReleaseOutcome(int(code)), str(detail)


async def record_waiting_transfer(
    redis: Redis,
    keys: Keys,
    *,
    invoice_id: str,
    waiting_attempt: int,
    transfer_attempt: int,
    stage: str,
    now: float,
    ledger_ttl_seconds: int,
    ledger_fields: Mapping[str, str | int],
) -> tuple[ReleaseOutcome, str]:
    """Record that Stark Bank already holds a live or successful transfer for a waiting
    invoice (``sent`` or ``success`` of `transfer_attempt`); nothing is enqueued. Same
    conditions and atomicity as ``release_waiting``."""
    if stage not in RECORDABLE_STAGES:
        raise ValueError(f"stage must be one of {RECORDABLE_STAGES}, got {stage!r}")
    result = await _run_script(
        redis,
        _RELEASE_LUA,
        5,
        *_keys(keys, invoice_id),
        invoice_id,
        waiting_attempt,
        f"{now:.6f}",
        ledger_ttl_seconds,
        "record",
        transfer_attempt,
        stage,
        *_pairs(ledger_fields),
    )
    code, detail = cast(list[Any], result)
    return ReleaseOutcome(int(code)), str(detail)
