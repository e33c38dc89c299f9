"""Re-opening a refused forward: the way out of ``refused`` when our own records say credited.

The worker settles an entry ``refused`` when its ownership read (our credentials, the
invoice's ``credited`` log) finds no credit of ours. That is final for the worker: a stranger's
event must never become money. But the read can also miss a credit of ours (a log not yet
visible, a page that answered short), and then the invoice would never be forwarded. Only
reconciliation, which lists our ``credited`` logs itself, may reopen it, here, in one atomic
step that re-enqueues the SAME attempt (``refused`` -> ``queued``), only while the ledger still
says ``refused`` for that attempt; a second call finds ``queued`` and does nothing. The
attempt's ``external_id`` never reached Stark Bank (``refused`` is decided before any create),
and it stays the guard against a second transfer all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys
from starkrelay.store.ledger import _pairs, _run_script

# KEYS: ledger, stages, stream
# ARGV: attempt, now, ledger_ttl, stream pairs...
# Returns {1, stream_id} when re-enqueued, else {0, '<stage>:<attempt>'}.
_REOPEN_LUA = """
local attempt, now = ARGV[1], ARGV[2]
local cur = redis.call('HMGET', KEYS[1], 'stage', 'attempt')
if cur[1] ~= 'refused' or tonumber(cur[2]) ~= tonumber(attempt) then
  return {0, (cur[1] or 'none') .. ':' .. (cur[2] or '-')}
end
local fields = {}
for i = 4, #ARGV, 1 do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[3], '*', unpack(fields))
redis.call('HINCRBY', KEYS[2], 'refused', -1)
redis.call('HINCRBY', KEYS[2], 'queued', 1)
redis.call('HSET', KEYS[1], 'stage', 'queued', 'stage_at', now, 'entry:' .. attempt, id,
  'requeued:' .. attempt, now, 'reopened:' .. attempt, now)
redis.call('HINCRBY', KEYS[1], 'reopens', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, id}
"""


async def reopen_refused(
    redis: Redis,
    keys: Keys,
    *,
    invoice_id: str,
    attempt: int,
    now: float,
    ledger_ttl_seconds: int,
    stream_fields: Mapping[str, str | int],
) -> str | None:
    """Re-enqueue ``attempt`` of a ``refused`` invoice; the new stream id, or None when the
    ledger is not at ``refused`` for that attempt (nothing done)."""
    result = await _run_script(
        redis,
        _REOPEN_LUA,
        3,
        keys.webhook_ledger(invoice_id),
        keys.ledger_stages(),
        keys.forward_stream(),
        attempt,
        f"{now:.6f}",
        ledger_ttl_seconds,
        *_pairs(stream_fields),
    )
    code, detail = cast(list[Any], result)
    return str(detail) if int(code) == 1 else None
