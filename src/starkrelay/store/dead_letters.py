"""Re-driving a dead-lettered forward: the one explicit way a ledger stage moves back.

Within one attempt a stage only moves forward (``ledger``); ``dead`` is final for the worker.
A person who fixed the cause (say, a destination Stark Bank refused) re-drives the dead letter
here, in one atomic step that either

- re-enqueues the SAME attempt (``dead`` -> ``queued``): same ``external_id``, so Stark Bank
  still refuses a second transfer of it and the worker confirms an existing one by tag; or
- records a transfer Stark Bank already holds for the invoice (``dead`` -> ``sent`` or
  ``success``), so nothing is sent again.

Either way the dead-letter entry is deleted in the same step, so a second call finds nothing
to do. ``ledger_stages`` stays equal to the number of invoices per stage.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, cast

from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys
from starkrelay.store.ledger import _pairs, _run_script

# KEYS: ledger, stages, stream, dead_stream, counters
# ARGV: dead_id, attempt, now, ledger_ttl, mode ("queue" | "record"), then
#   queue:  stream pairs...
#   record: recorded attempt, recorded stage (sent | success), ledger pairs...
# Returns {code, detail}; codes as in ``RedriveOutcome``.
_REDRIVE_LUA = """
local dead_id, attempt, now = ARGV[1], ARGV[2], ARGV[3]
if #redis.call('XRANGE', KEYS[4], dead_id, dead_id) == 0 then return {0, ''} end
local cur = redis.call('HMGET', KEYS[1], 'stage', 'attempt')
if cur[1] ~= 'dead' or tonumber(cur[2]) ~= tonumber(attempt) then
  return {2, (cur[1] or 'none') .. ':' .. (cur[2] or '-')}
end
redis.call('HINCRBY', KEYS[2], 'dead', -1)
local code, detail = 1, ''
if ARGV[5] == 'queue' then
  local fields = {}
  for i = 6, #ARGV, 1 do fields[#fields + 1] = ARGV[i] end
  detail = redis.call('XADD', KEYS[3], '*', unpack(fields))
  redis.call('HINCRBY', KEYS[2], 'queued', 1)
  redis.call('HSET', KEYS[1], 'stage', 'queued', 'stage_at', now, 'entry:' .. attempt, detail,
    'requeued:' .. attempt, now, 'redriven:' .. attempt, now)
  redis.call('HINCRBY', KEYS[5], 'items_redriven', 1)
else
  code, detail = 3, ARGV[7]
  redis.call('HINCRBY', KEYS[2], ARGV[7], 1)
  redis.call('HSET', KEYS[1], 'stage', ARGV[7], 'attempt', ARGV[6], 'stage_at', now,
    'redriven:' .. attempt, now)
  for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('HINCRBY', KEYS[5], 'items_redrive_recorded', 1)
end
redis.call('HINCRBY', KEYS[1], 'redrives', 1)
redis.call('HSET', KEYS[1], 'redriven_dead_letter:' .. attempt, dead_id)
redis.call('XDEL', KEYS[4], dead_id)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {code, detail}
"""

RECORDABLE_STAGES = ("sent", "success")


class RedriveOutcome(enum.IntEnum):
    """What ``redrive_dead_letter`` / ``record_dead_letter_transfer`` found (and did)."""

    GONE = 0
    """The dead-letter entry is no longer in the stream (already re-driven or deleted)."""
    REQUEUED = 1
    """The same attempt was added to the forward stream again; the dead letter deleted."""
    NOT_DEAD = 2
    """The ledger is not at ``dead`` for this attempt (detail: ``<stage>:<attempt>``);
    nothing was done and the dead letter was kept."""
    RECORDED = 3
    """A transfer Stark Bank holds was recorded (detail: the stage); the dead letter deleted."""


def _keys(keys: Keys, invoice_id: str) -> list[str]:
    return [
        keys.webhook_ledger(invoice_id),
        keys.ledger_stages(),
        keys.forward_stream(),
        keys.forward_dead_letters(),
        keys.forward_counters(),
    ]


async def redrive_dead_letter(
    redis: Redis,
    keys: Keys,
    *,
    dead_letter_id: str,
    invoice_id: str,
    attempt: int,
    now: float,
    ledger_ttl_seconds: int,
    stream_fields: Mapping[str, str | int],
) -> tuple[RedriveOutcome, str]:
    """Re-enqueue dead letter `dead_letter_id` as the same `attempt`; one atomic step.

    Only while the dead letter is still in the dead-letter stream and the invoice's ledger is
    at ``dead`` for `attempt`. Then: the ledger moves to ``queued`` (stage counts follow),
    the item is XADDed with `stream_fields`, its id kept in ``entry:<attempt>`` (and the time
    in ``requeued:<attempt>``, so reconciliation does not take the fresh entry for lost),
    ``redriven:<attempt>`` and ``redrives`` are written, the counter ``items_redriven`` grows
    and the dead letter is deleted. Returns the outcome and, when re-enqueued, the new id.
    Callers must first make sure Stark Bank holds no live transfer for the invoice.
    """
    result = await _run_script(
        redis,
        _REDRIVE_LUA,
        5,
        *_keys(keys, invoice_id),
        dead_letter_id,
        attempt,
        f"{now:.6f}",
        ledger_ttl_seconds,
        "queue",
        *_pairs(stream_fields),
    )
    code, detail = cast(list[Any], result)
    return RedriveOutcome(int(code)), str(detail)


async def record_dead_letter_transfer(
    redis: Redis,
    keys: Keys,
    *,
    dead_letter_id: str,
    invoice_id: str,
    attempt: int,
    transfer_attempt: int,
    stage: str,
    now: float,
    ledger_ttl_seconds: int,
    ledger_fields: Mapping[str, str | int],
) -> tuple[RedriveOutcome, str]:
    """Record that Stark Bank already holds a transfer for a dead-lettered invoice; one
    atomic step, under the same conditions as ``redrive_dead_letter``.

    The ledger moves from ``dead`` (attempt `attempt`) to `stage` (``sent`` or ``success``)
    of `transfer_attempt`, `ledger_fields` are written, the counter
    ``items_redrive_recorded`` grows and the dead letter is deleted. Nothing is enqueued.
    """
    if stage not in RECORDABLE_STAGES:
        raise ValueError(f"stage must be one of {RECORDABLE_STAGES}, got {stage!r}")
    result = await _run_script(
        redis,
        _REDRIVE_LUA,
        5,
        *_keys(keys, invoice_id),
        dead_letter_id,
        attempt,
        f"{now:.6f}",
        ledger_ttl_seconds,
        "record",
        transfer_attempt,
        stage,
        *_pairs(ledger_fields),
    )
    code, detail = cast(list[Any], result)
    return RedriveOutcome(int(code)), str(detail)
