"""The invoice ledger and the forward stream: the Lua scripts that must run atomically.

Each invoice has a ledger hash with a forward ``stage`` and the ``attempt`` it refers to.
A stage only moves forward: a later attempt always wins; within one attempt the rank must grow
(queued < sent < failed|dead|skipped < waiting < success); ``success`` and ``refused`` (Stark
Bank, read with our credentials, has no credit of that invoice in our workspace: nothing is
ever sent for it) are final. So events that arrive out of order (a transfer's ``success``
before the worker recorded ``sent``) never move an invoice backwards. ``ledger_stages`` counts
invoices per stage and changes only here and in ``dead_letters`` (the one explicit way out of
``dead``: a person re-drives it to ``queued``, or records the transfer Stark Bank already holds
as ``sent``/``success``).
"""

from __future__ import annotations

import enum
import hashlib
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import NoScriptError

from starkrelay.store.batching import ScriptBatcher
from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys

FORWARD_GROUP = "forwarders"
"""Consumer group of the forward stream."""

FORWARD_STAGES = ("queued", "sent", "failed", "dead", "skipped", "waiting", "success", "refused")
"""``waiting``: the attempt was refused or failed for lack of balance; it sits in the waiting
index (``Keys.forward_waiting``) until ``forwarding.balance_wait`` re-sends it. It outranks
``failed`` (it is a failure with a known, temporary cause) and only ``release_waiting`` (or a
later attempt, or ``success``) moves an invoice out of it. ``refused``: Stark Bank, read with
our credentials, has no credit of that invoice in our workspace; final, nothing is sent."""

LEDGER_TTL_SECONDS = 120 * 86400
"""Invoice ledger records live this long after their last change (well past any lookback)."""

_ADVANCE_LUA = """
local RANK = {queued=1, sent=2, failed=3, dead=3, skipped=3, waiting=4, success=5, refused=5}
local function advance(ledger, stages, index, invoice_id, attempt, stage, now, waiting)
  local cur = redis.call('HMGET', ledger, 'stage', 'attempt')
  local cs, ca = cur[1], tonumber(cur[2])
  if cs then
    if cs == 'success' or cs == 'refused' then return 0 end
    if ca and attempt < ca then return 0 end
    if ca and attempt == ca and RANK[stage] <= (RANK[cs] or 0) then return 0 end
    redis.call('HINCRBY', stages, cs, -1)
    if cs == 'waiting' then redis.call('ZREM', waiting, invoice_id) end
  else
    redis.call('ZADD', index, 'NX', now, invoice_id)
  end
  redis.call('HINCRBY', stages, stage, 1)
  redis.call('HSET', ledger, 'stage', stage, 'attempt', attempt, 'stage_at', now)
  if stage == 'waiting' then
    redis.call('HSETNX', ledger, 'waiting_since', now)
    redis.call('ZADD', waiting, 'NX', redis.call('HGET', ledger, 'waiting_since'), invoice_id)
  end
  return 1
end
local function hset_pairs(key, from, to)
  for i = from, to, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
"""

# KEYS: event_claim, ledger, stages, index, stream, waiting
# ARGV: event_ttl ("0": no event claim), action, invoice_id, attempt, stage, now, ledger_ttl,
#       outcome, n_stream_pairs, stream pairs..., ledger pairs...
# Returns {code, stream_id}: 0 duplicate event, 1 enqueued, 2 attempt already enqueued,
# 3 recorded, 4 nothing to do.
_INTAKE_LUA = (
    _ADVANCE_LUA
    + """
local ttl, action, invoice_id, attempt = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local now, ledger_ttl, n_stream = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])
-- every check that can fail comes before the claim: a script stopped by an error keeps the
-- writes it made, and a claim without its work would drop the event for good
if not (ttl and attempt and now and ledger_ttl and n_stream) then
  return redis.error_reply('intake: a numeric argument is not a number')
end
local stream_end = 9 + 2 * n_stream
if (action ~= 'none' and action ~= 'forward' and action ~= 'record')
  or stream_end > #ARGV or (#ARGV - stream_end) % 2 ~= 0 then
  return redis.error_reply('intake: malformed action or field pairs')
end
if ttl > 0 then
  if not redis.call('SET', KEYS[1], ARGV[8], 'NX', 'EX', ttl) then return {0, ''} end
end
if action == 'none' then return {4, ''} end
if action == 'forward' then
  if redis.call('HSETNX', KEYS[2], 'queued:' .. attempt, now) == 0 then
    return {2, ''}
  end
  local fields = {}
  for i = 10, stream_end, 1 do fields[#fields + 1] = ARGV[i] end
  local id = redis.call('XADD', KEYS[5], '*', unpack(fields))
  redis.call('HSET', KEYS[2], 'entry:' .. attempt, id)
  advance(KEYS[2], KEYS[3], KEYS[4], invoice_id, attempt, 'queued', now, KEYS[6])
  hset_pairs(KEYS[2], stream_end + 1, #ARGV)
  redis.call('EXPIRE', KEYS[2], ledger_ttl)
  return {1, id}
end
if ARGV[5] ~= '' then
  advance(KEYS[2], KEYS[3], KEYS[4], invoice_id, attempt, ARGV[5], now, KEYS[6])
end
hset_pairs(KEYS[2], stream_end + 1, #ARGV)
redis.call('EXPIRE', KEYS[2], ledger_ttl)
return {3, ''}
"""
)

# KEYS: ledger, stages, index, stream, dead_stream, counters, waiting
# ARGV: group, entry_id, invoice_id, attempt, stage, now, ledger_ttl, amount, n_ledger_pairs,
#       ledger pairs..., dead-letter pairs (none: not dead-lettered)
# Returns 1 when this call acknowledged the entry (first settle), else 0.
_SETTLE_LUA = (
    _ADVANCE_LUA
    + """
local acked = 1
if ARGV[2] ~= '' then acked = redis.call('XACK', KEYS[4], ARGV[1], ARGV[2]) end
local ledger_end = 9 + 2 * tonumber(ARGV[9])
local stage, attempt, now = ARGV[5], tonumber(ARGV[4]), tonumber(ARGV[6])
advance(KEYS[1], KEYS[2], KEYS[3], ARGV[3], attempt, stage, now, KEYS[7])
hset_pairs(KEYS[1], 10, ledger_end)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
if #ARGV > ledger_end then
  local fields = {}
  for i = ledger_end + 1, #ARGV, 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[5], '*', unpack(fields))
end
if acked == 1 then
  redis.call('HINCRBY', KEYS[6], 'items_' .. stage, 1)
  redis.call('HINCRBY', KEYS[6], 'cents_' .. stage, tonumber(ARGV[8]))
end
return acked
"""
)


def _pairs(fields: Mapping[str, str | int]) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, str(value)]
    return flat


async def intake_event(
    redis: Redis,
    keys: Keys,
    *,
    event_id: str | None,
    event_ttl_seconds: int,
    action: str,
    invoice_id: str,
    attempt: int = 0,
    stage: str = "",
    now: float,
    ledger_ttl_seconds: int,
    outcome: str = "",
    stream_fields: Mapping[str, str | int] | None = None,
    ledger_fields: Mapping[str, str | int] | None = None,
) -> tuple[int, str]:
    """Claim an event (unless ``event_id`` is None) and act on it in one atomic step.

    ``action``: ``forward`` (claim ``queued:<attempt>`` of the invoice, XADD the item and
    keep its stream id in ``entry:<attempt>``),
    ``record`` (write ledger fields, advance to ``stage`` if given; ``waiting`` also puts the
    invoice in the waiting index), ``none`` (claim only).
    Returns ``(code, stream_id)``: 0 duplicate event (nothing done), 1 enqueued, 2 this attempt
    was already enqueued, 3 recorded, 4 claimed with nothing to do.

    Concurrent calls on one client share one pipeline per event-loop tick
    (``store.batching``): each still runs its own script atomically and gets its own reply or
    error.
    """
    stream = _pairs(stream_fields or {})
    args: list[str | int | float] = [
        event_ttl_seconds if event_id else 0,
        action,
        invoice_id,
        attempt,
        stage,
        now,
        ledger_ttl_seconds,
        outcome or action,
        len(stream) // 2,
        *stream,
        *_pairs(ledger_fields or {}),
    ]
    claim_key = keys.event_claim(event_id) if event_id else keys.key("event", "-")
    ledger = keys.webhook_ledger(invoice_id) if invoice_id else keys.key("ledger", "-")
    result = await intake_batcher(redis).run(
        claim_key,
        ledger,
        keys.ledger_stages(),
        keys.ledger_index(),
        keys.forward_stream(),
        keys.forward_waiting(),
        *args,
    )
    code, stream_id = cast(list[Any], result)
    return int(code), str(stream_id)


# KEYS: ledger, stream
# ARGV: group, attempt, now, min_age_seconds, ledger_ttl, stream pairs...
# Returns {code, stream_id}; codes as in ``RequeueOutcome`` (1 = re-enqueued).
_REQUEUE_LUA = """
local attempt = ARGV[2]
local cur = redis.call('HMGET', KEYS[1], 'stage', 'attempt', 'queued:' .. attempt,
  'requeued:' .. attempt, 'entry:' .. attempt)
local stage, at, queued_at, requeued_at, entry = cur[1], cur[2], cur[3], cur[4], cur[5]
if (stage ~= 'queued' and stage ~= 'sent') or tonumber(at) ~= tonumber(attempt)
  or not queued_at then
  return {0, ''}
end
local now = tonumber(ARGV[3])
if now - tonumber(requeued_at or queued_at) < tonumber(ARGV[4]) then return {2, ''} end
if not entry then return {5, ''} end
if #redis.call('XRANGE', KEYS[2], entry, entry) > 0 then return {3, ''} end
local pending = redis.pcall('XPENDING', KEYS[2], ARGV[1], entry, entry, 1)
if type(pending) == 'table' and not pending.err and #pending > 0 then return {4, ''} end
local fields = {}
for i = 6, #ARGV, 1 do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('HSET', KEYS[1], 'entry:' .. attempt, id, 'requeued:' .. attempt, ARGV[3],
  'lost_entry:' .. attempt, entry)
redis.call('HINCRBY', KEYS[1], 'requeues', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {1, id}
"""


class RequeueOutcome(enum.IntEnum):
    """What ``requeue_lost_entry`` found (and did)."""

    NOT_QUEUED = 0
    """The ledger is not at ``queued``/``sent`` for this attempt: nothing to recover."""
    REQUEUED = 1
    """The entry was lost; a new entry for the same attempt was added."""
    TOO_RECENT = 2
    """Enqueued (or re-enqueued) less than ``min_age_seconds`` ago: left alone."""
    IN_STREAM = 3
    """The entry is still in the stream (waiting or being worked on)."""
    PENDING = 4
    """The entry is pending in the consumer group (a worker holds it)."""
    NO_ENTRY_ID = 5
    """The ledger never recorded the entry's id, so its loss cannot be proven."""


async def requeue_lost_entry(
    redis: Redis,
    keys: Keys,
    *,
    invoice_id: str,
    attempt: int,
    now: float,
    min_age_seconds: float,
    ledger_ttl_seconds: int,
    stream_fields: Mapping[str, str | int],
) -> tuple[RequeueOutcome, str]:
    """Add the forward entry of ``attempt`` again if Redis lost it; one atomic step.

    Only when the invoice's ledger is at ``queued`` or ``sent`` for ``attempt``, that attempt
    was enqueued (or last re-enqueued) at least ``min_age_seconds`` before ``now``, and its
    recorded entry id (``entry:<attempt>``) is neither in the forward stream nor pending in
    ``FORWARD_GROUP``. The new entry carries the same attempt, so the same ``external_id``:
    if the lost entry was in fact sent, Stark Bank refuses the second transfer and the
    worker confirms the first. The ledger keeps the new id (``entry:<attempt>``), the lost
    one (``lost_entry:<attempt>``), the time (``requeued:<attempt>``) and a ``requeues``
    count. Returns the outcome and the new entry's id (empty unless re-enqueued).
    """
    result = await _run_script(
        redis,
        _REQUEUE_LUA,
        2,
        keys.webhook_ledger(invoice_id),
        keys.forward_stream(),
        FORWARD_GROUP,
        attempt,
        f"{now:.6f}",
        min_age_seconds,
        ledger_ttl_seconds,
        *_pairs(stream_fields),
    )
    code, stream_id = cast(list[Any], result)
    return RequeueOutcome(int(code)), str(stream_id)


@dataclass(frozen=True)
class Settlement:
    """The outcome of one forward entry, for ``settle_forwards``."""

    entry_id: str
    invoice_id: str
    attempt: int
    stage: str
    amount: int
    now: float
    ledger_ttl_seconds: int
    ledger_fields: Mapping[str, str | int]
    dead_letter: Mapping[str, str | int] | None = None


def _settle_args(keys: Keys, s: Settlement) -> list[str | int | float]:
    ledger = _pairs(s.ledger_fields)
    return [
        keys.webhook_ledger(s.invoice_id),
        keys.ledger_stages(),
        keys.ledger_index(),
        keys.forward_stream(),
        keys.forward_dead_letters(),
        keys.forward_counters(),
        keys.forward_waiting(),
        FORWARD_GROUP,
        s.entry_id,
        s.invoice_id,
        s.attempt,
        s.stage,
        s.now,
        s.ledger_ttl_seconds,
        s.amount,
        len(ledger) // 2,
        *ledger,
        *_pairs(s.dead_letter or {}),
    ]


async def settle_forwards(
    redis: Redis, keys: Keys, settlements: Sequence[Settlement]
) -> list[bool]:
    """Record outcomes of forward entries and XACK them; each entry atomically (one Lua call),
    all in one round trip.

    An entry with ``dead_letter`` is also copied to the dead-letter stream; one settled as
    ``waiting`` also enters the waiting index (``Keys.forward_waiting``). Returns, per
    entry, True when this call acknowledged it (so totals are counted once per entry); an
    empty ``entry_id`` records without acknowledging anything.
    """
    if not settlements:
        return []
    sha = _sha1(_SETTLE_LUA)
    for attempt in range(2):
        pipe = redis.pipeline(transaction=False)
        for settlement in settlements:
            pipe.evalsha(sha, 7, *_settle_args(keys, settlement))
        try:
            results = await pipe.execute()
        except NoScriptError:
            if attempt:
                raise
            await redis.script_load(_SETTLE_LUA)  # nothing ran: every call needed the script
            continue
        return [bool(cast(int, result)) for result in results]
    raise AssertionError("unreachable")  # pragma: no cover


async def settle_forward(redis: Redis, keys: Keys, settlement: Settlement) -> bool:
    """``settle_forwards`` for one entry."""
    [acked] = await settle_forwards(redis, keys, [settlement])
    return acked


_INTAKE_KEYS = 6
"""KEYS of the intake script: event claim, ledger, stages, index, stream, waiting index."""

_INTAKE_BATCHERS: weakref.WeakKeyDictionary[Redis, ScriptBatcher] = weakref.WeakKeyDictionary()


def intake_batcher(redis: Redis) -> ScriptBatcher:
    """The intake script's batcher of this client (one per client, made on first use)."""
    batcher = _INTAKE_BATCHERS.get(redis)
    if batcher is None:
        batcher = _INTAKE_BATCHERS[redis] = ScriptBatcher(redis, _INTAKE_LUA, _INTAKE_KEYS)
    return batcher


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


async def _run_script(redis: Redis, script: str, numkeys: int, *args: str | int | float) -> Any:
    """EVALSHA, loading the script on first use (or after Redis lost its script cache)."""
    try:
        return await redis.evalsha(_sha1(script), numkeys, *args)
    except NoScriptError:
        return await redis.eval(script, numkeys, *args)
