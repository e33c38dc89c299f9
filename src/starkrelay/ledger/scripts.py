"""Every Redis script that changes a forward's stage: three scripts over one ``move``.

``move`` (Lua, shared) takes a stage change only when ``stages.TRANSITIONS`` has it with the
evidence the caller names, and keeps the per-stage counts, the ledger index and the waiting
index in the same step. Around it:

- ``INTAKE``: an event, claimed by id, becomes a hint: a credited invoice is enqueued (attempt
  0, once per invoice); a transfer event moves the stage only when its transfer id is the one
  we recorded for that attempt, else it schedules a look-up (``forward_hints``), and one about
  an invoice we never forwarded stores nothing but a count;
- ``SETTLE``: the worker's answer for one stream entry, acknowledged in the same step;
- ``MOVE``: every other move, guarded by the stage and attempt the caller read from Stark
  Bank and Redis (re-open, re-send, release from waiting, re-drive, record a found transfer,
  re-enqueue a lost entry, approve or reject a held forward);
- ``LIMIT``: before the create, counts the forward against the day's budget and the hour's
  count, or holds it (``queued`` -> ``held``, the entry acknowledged), in one step, so two
  workers racing can never both slip under a limit; ``BUDGET`` then confirms the count
  (Stark Bank holds the attempt's transfer) or releases it (nothing was created); ``SEED``
  starts a day's count (and its hour's) from Stark Bank's listing once, at the day's first
  forward or after Redis lost it.

Every script checks its arguments before it writes: a script stopped by an error keeps what
it already wrote.
"""

from __future__ import annotations

from starkrelay.ledger.stages import lua_table

KEY_NAMES = (
    "event_claim",
    "ledger",
    "stages",
    "index",
    "stream",
    "waiting",
    "dead_letters",
    "counters",
    "hints",
    "held",
)
"""The KEYS of every script, in this order (``LIMIT`` adds the day's budget and the hour's
count after them)."""

_PRELUDE = (
    lua_table()
    + """
local K_CLAIM, K_LEDGER, K_STAGES, K_INDEX, K_STREAM, K_WAITING, K_DEAD, K_COUNTERS, K_HINTS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local K_HELD = KEYS[10]
local function held_cents(sign)
  local cents = tonumber(redis.call('HGET', K_LEDGER, 'held_amount')) or 0
  redis.call('HINCRBY', K_COUNTERS, 'held_now_cents', sign * cents)
end
local function move(invoice_id, to, attempt, evidence, now)
  local cur = redis.call('HMGET', K_LEDGER, 'stage', 'attempt')
  local from = cur[1] or 'new'
  local rule = ALLOWED[from .. '>' .. to]
  if not rule or not rule[evidence] then return false end
  if from == 'new' then
    redis.call('ZADD', K_INDEX, 'NX', now, invoice_id)
  else
    redis.call('HINCRBY', K_STAGES, from, -1)
    if from == 'waiting' then redis.call('ZREM', K_WAITING, invoice_id) end
    if from == 'held' and redis.call('ZREM', K_HELD, invoice_id) == 1 then held_cents(-1) end
  end
  redis.call('HINCRBY', K_STAGES, to, 1)
  redis.call('HSET', K_LEDGER, 'stage', to, 'attempt', attempt, 'stage_at', now,
    'evidence', evidence)
  if to == 'waiting' then
    redis.call('HSETNX', K_LEDGER, 'waiting_since', now)
    redis.call('ZADD', K_WAITING, 'NX', redis.call('HGET', K_LEDGER, 'waiting_since'), invoice_id)
  end
  if to == 'held' and redis.call('ZADD', K_HELD, now, invoice_id) == 1 then held_cents(1) end
  return true
end
local function hset_pairs(from, to)
  for i = from, to, 2 do redis.call('HSET', K_LEDGER, ARGV[i], ARGV[i + 1]) end
end
local function slice(from, to)
  local out = {}
  for i = from, to, 1 do out[#out + 1] = ARGV[i] end
  return out
end
local function pairs_end(count_at, first)
  local n = tonumber(ARGV[count_at])
  if not n then return nil end
  local last = first - 1 + 2 * n
  if last > #ARGV or (#ARGV - last) % 2 ~= 0 then return nil end
  return last
end
"""
)

# ARGV: 1 event_ttl (0: no claim), 2 claim value, 3 action (forward|transfer|note|none),
#       4 invoice_id, 5 attempt, 6 now, 7 ledger_ttl, 8 transfer_id, 9 stage for our transfer,
#       10 n stream pairs, stream pairs..., ledger pairs...
# Returns {code, detail}; codes as in ``steps.IntakeCode``.
INTAKE = (
    _PRELUDE
    + """
local ttl, action, invoice_id = tonumber(ARGV[1]), ARGV[3], ARGV[4]
local attempt, now, ledger_ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local stream_end = pairs_end(10, 11)
if not (ttl and attempt and now and ledger_ttl and stream_end) then
  return redis.error_reply('intake: a number or the field pairs are malformed')
end
if action ~= 'forward' and action ~= 'transfer' and action ~= 'note' and action ~= 'none' then
  return redis.error_reply('intake: unknown action')
end
if action == 'transfer' and redis.call('HEXISTS', K_LEDGER, 'stage') == 0 then
  -- no forward (at most notes of the invoice's own logs): nothing of ours to look up
  redis.call('HINCRBY', K_COUNTERS, 'foreign_events', 1)
  return {6, ''}
end
if ttl > 0 and not redis.call('SET', K_CLAIM, ARGV[2], 'NX', 'EX', ttl) then return {0, ''} end
if action == 'none' then return {4, ''} end
local code, detail = 7, ''
if action == 'forward' then
  if redis.call('HEXISTS', K_LEDGER, 'stage') == 1
    or redis.call('HSETNX', K_LEDGER, 'queued:' .. attempt, now) == 0 then
    return {2, ''}
  end
  detail = redis.call('XADD', K_STREAM, '*', unpack(slice(11, stream_end)))
  redis.call('HSET', K_LEDGER, 'entry:' .. attempt, detail)
  move(invoice_id, 'queued', attempt, 'hint', now)
  code = 1
elseif action == 'transfer' then
  local cur = redis.call('HMGET', K_LEDGER, 'attempt', 'transfer:' .. attempt, 'stage')
  if tonumber(cur[1]) ~= attempt or cur[2] ~= ARGV[8] then
    -- only an outcome is worth a look-up: the worker records a live transfer of its own
    if ARGV[9] == 'sent' then return {7, ''} end
    -- every id events named is kept (a few at most): each one our listing lacks is foreign
    local named = redis.call('HGET', K_HINTS, invoice_id)
    if not named then
      redis.call('HSET', K_HINTS, invoice_id, ARGV[8])
    elseif #named < 512
      and not string.find(' ' .. named .. ' ', ' ' .. ARGV[8] .. ' ', 1, true) then
      redis.call('HSET', K_HINTS, invoice_id, named .. ' ' .. ARGV[8])
    end
    return {5, ''}
  end
  -- our transfer's outcome closes the attempt it awaits; an older log arriving late does
  -- not reopen what a newer one (or a look-up) already decided
  if cur[3] ~= 'sent' or not move(invoice_id, ARGV[9], attempt, 'our_transfer', now) then
    return {7, ''}  -- an older log arriving late: its status must not overwrite the newer
  end
  code = 3
end
hset_pairs(stream_end + 1, #ARGV)
redis.call('EXPIRE', K_LEDGER, ledger_ttl)
return {code, detail}
"""
)

# ARGV: 1 group, 2 entry_id ('' = none to acknowledge), 3 invoice_id, 4 attempt, 5 stage,
#       6 evidence, 7 now, 8 ledger_ttl, 9 amount, 10 n ledger pairs, ledger pairs...,
#       dead-letter pairs (none: not dead-lettered)
# Returns {acked (1 when this call acknowledged the entry), moved (1 when the stage moved)}.
SETTLE = (
    _PRELUDE
    + """
local invoice_id, attempt, stage, evidence = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local now, ledger_ttl, amount = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local ledger_end = pairs_end(10, 11)
if not (attempt and now and ledger_ttl and amount and ledger_end) then
  return redis.error_reply('settle: a number or the field pairs are malformed')
end
local acked = 1
if ARGV[2] ~= '' then acked = redis.call('XACK', K_STREAM, ARGV[1], ARGV[2]) end
local cur = redis.call('HMGET', K_LEDGER, 'stage', 'attempt')
if not cur[1] then move(invoice_id, 'queued', attempt, 'hint', now) end
local moved = 0
if tonumber(redis.call('HGET', K_LEDGER, 'attempt')) == attempt
  and move(invoice_id, stage, attempt, evidence, now) then
  moved = 1
end
hset_pairs(11, ledger_end)
redis.call('EXPIRE', K_LEDGER, ledger_ttl)
if #ARGV > ledger_end then
  redis.call('XADD', K_DEAD, '*', unpack(slice(ledger_end + 1, #ARGV)))
end
if acked == 1 then
  redis.call('HINCRBY', K_COUNTERS, 'items_' .. stage, 1)
  redis.call('HINCRBY', K_COUNTERS, 'cents_' .. stage, amount)
end
return {acked, moved}
"""
)

# ARGV: 1 invoice_id, 2 expected stages (comma-separated; 'new' = no stage), 3 expected
#       attempt, 4 target stage, 5 attempt, 6 evidence, 7 now, 8 ledger_ttl, 9 counter ('' none),
#       10 ledger counter ('' none), 11 dead-letter id ('' none), 12 lost-entry minimum age
#       (-1: no lost-entry guard), 13 group, 14 n stream pairs, stream pairs..., ledger pairs...
# Returns {code, detail}; codes as in ``steps.MoveOutcome``.
MOVE = (
    _PRELUDE
    + """
local invoice_id, to, evidence = ARGV[1], ARGV[4], ARGV[6]
local expected_attempt, attempt = tonumber(ARGV[3]), tonumber(ARGV[5])
local now, ledger_ttl, min_age = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[12])
local stream_end = pairs_end(14, 15)
if not (expected_attempt and attempt and now and ledger_ttl and min_age and stream_end) then
  return redis.error_reply('move: a number or the field pairs are malformed')
end
local dead_id = ARGV[11]
if dead_id ~= '' and #redis.call('XRANGE', K_DEAD, dead_id, dead_id) == 0 then
  return {2, ''}
end
local cur = redis.call('HMGET', K_LEDGER, 'stage', 'attempt')
local from, at = cur[1] or 'new', tonumber(cur[2])
local expected = false
for stage in string.gmatch(ARGV[2], '[^,]+') do
  if stage == from then expected = true end
end
if not expected or (from ~= 'new' and at ~= expected_attempt) then
  return {0, from .. ':' .. (cur[2] or '-')}
end
local lost = nil
if min_age >= 0 then
  local seen = redis.call('HMGET', K_LEDGER, 'queued:' .. attempt, 'requeued:' .. attempt,
    'entry:' .. attempt)
  local since = tonumber(seen[2] or seen[1])
  if not since or now - since < min_age then return {4, ''} end
  lost = seen[3]
  if not lost then return {7, ''} end
  if #redis.call('XRANGE', K_STREAM, lost, lost) > 0 then return {5, ''} end
  local pending = redis.pcall('XPENDING', K_STREAM, ARGV[13], lost, lost, 1)
  if type(pending) == 'table' and not pending.err and #pending > 0 then return {6, ''} end
end
if to == 'queued' and attempt > (at or -1)
  and redis.call('HSETNX', K_LEDGER, 'queued:' .. attempt, now) == 0 then
  return {8, ''}
end
if not move(invoice_id, to, attempt, evidence, now) then return {3, from .. '>' .. to} end
local detail = to
if to == 'queued' then
  detail = redis.call('XADD', K_STREAM, '*', unpack(slice(15, stream_end)))
  redis.call('HSET', K_LEDGER, 'entry:' .. attempt, detail)
  if at and attempt <= at then redis.call('HSET', K_LEDGER, 'requeued:' .. attempt, now) end
  if lost then redis.call('HSET', K_LEDGER, 'lost_entry:' .. attempt, lost) end
end
hset_pairs(stream_end + 1, #ARGV)
if ARGV[9] ~= '' then redis.call('HINCRBY', K_COUNTERS, ARGV[9], 1) end
if ARGV[10] ~= '' then redis.call('HINCRBY', K_LEDGER, ARGV[10], 1) end
if dead_id ~= '' then
  redis.call('HSET', K_LEDGER, 'redriven_dead_letter:' .. ARGV[3], dead_id)
  redis.call('XDEL', K_DEAD, dead_id)
end
redis.call('EXPIRE', K_LEDGER, ledger_ttl)
return {1, detail}
"""
)

# KEYS: KEY_NAMES, then 11 the day's budget, 12 the hour's count.
# ARGV: 1 group, 2 entry_id, 3 invoice_id, 4 attempt, 5 amount, 6 now, 7 ledger_ttl,
#       8 max_amount, 9 daily_limit, 10 hourly_count (0: no such limit), 11 day, 12 hour,
#       13 budget ttl, 14 n ledger pairs, ledger pairs... (written when held)
# Returns {code, detail}; codes as in ``budget.LimitCode`` (detail: the reservation's mark
# ``<day>|<hour>|<amount>``, the limit that held it, or the ledger's stage).
LIMIT = (
    _PRELUDE
    + """
local K_DAY, K_HOUR = KEYS[11], KEYS[12]
local invoice_id, attempt, amount = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now, ledger_ttl, budget_ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[13])
local max_amount, daily, hourly = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local ledger_end = pairs_end(14, 15)
if not (attempt and amount and now and ledger_ttl and budget_ttl and max_amount and daily
    and hourly and ledger_end) then
  return redis.error_reply('limit: a number or the field pairs are malformed')
end
local cur = redis.call('HMGET', K_LEDGER, 'stage', 'attempt')
if not cur[1] then
  move(invoice_id, 'queued', attempt, 'hint', now)
  cur = {'queued', tostring(attempt)}
end
if cur[1] == 'held' or cur[1] == 'rejected' then
  redis.call('XACK', K_STREAM, ARGV[1], ARGV[2])
  return {4, cur[1]}
end
if cur[1] ~= 'queued' or tonumber(cur[2]) ~= attempt then return {3, cur[1]} end
local mark = redis.call('HGET', K_LEDGER, 'budget:' .. attempt)
if mark then return {1, mark} end
local reason = ''
if redis.call('HEXISTS', K_LEDGER, 'approved_at') == 0 then
  if max_amount > 0 and amount > max_amount then
    reason = 'max_amount'
  elseif daily > 0 and (tonumber(redis.call('HGET', K_DAY, 'used')) or 0) + amount > daily then
    reason = 'daily_limit'
  elseif hourly > 0 and (tonumber(redis.call('HGET', K_HOUR, 'used')) or 0) + 1 > hourly then
    reason = 'hourly_count'
  end
end
if reason ~= '' then
  redis.call('XACK', K_STREAM, ARGV[1], ARGV[2])
  hset_pairs(15, ledger_end)
  redis.call('HSET', K_LEDGER, 'held_reason', reason, 'held_amount', amount, 'held_at', now,
    'held_day', ARGV[11])
  redis.call('HSETNX', K_LEDGER, 'held_since', now)
  move(invoice_id, 'held', attempt, 'limit', now)
  redis.call('HINCRBY', K_COUNTERS, 'items_held', 1)
  redis.call('HINCRBY', K_COUNTERS, 'cents_held', amount)
  redis.call('EXPIRE', K_LEDGER, ledger_ttl)
  return {2, reason}
end
redis.call('HINCRBY', K_DAY, 'used', amount)
redis.call('HINCRBY', K_DAY, 'count', 1)
redis.call('EXPIRE', K_DAY, budget_ttl)
redis.call('HINCRBY', K_HOUR, 'used', 1)
redis.call('EXPIRE', K_HOUR, budget_ttl)
mark = ARGV[11] .. '|' .. ARGV[12] .. '|' .. amount
redis.call('HSET', K_LEDGER, 'budget:' .. attempt, mark, 'budget_state:' .. attempt, 'reserved')
redis.call('EXPIRE', K_LEDGER, ledger_ttl)
return {1, mark}
"""
)

# KEYS: 1 ledger, 2 the reservation's day budget, 3 its hour count.
# ARGV: 1 attempt, 2 the reservation's mark (``<day>|<hour>|<amount>``).
# Returns 0 (kept: still on its way, or no such reservation), 1 (confirmed), 2 (released).
BUDGET = """
local attempt, mark = ARGV[1], ARGV[2]
local amount = tonumber(string.match(mark, '|(%d+)$'))
if not amount then return redis.error_reply('budget: the mark is malformed') end
if redis.call('HGET', KEYS[1], 'budget:' .. attempt) ~= mark
  or redis.call('HGET', KEYS[1], 'budget_state:' .. attempt) ~= 'reserved' then
  return 0
end
if redis.call('HEXISTS', KEYS[1], 'transfer:' .. attempt) == 1 then
  redis.call('HSET', KEYS[1], 'budget_state:' .. attempt, 'confirmed')
  redis.call('HINCRBY', KEYS[2], 'confirmed', amount)
  redis.call('HINCRBY', KEYS[2], 'confirmed_count', 1)
  return 1
end
local cur = redis.call('HMGET', KEYS[1], 'stage', 'attempt')
if cur[1] == 'queued' and cur[2] == attempt then return 0 end
redis.call('HDEL', KEYS[1], 'budget:' .. attempt, 'budget_state:' .. attempt)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'used', -amount)
  redis.call('HINCRBY', KEYS[2], 'count', -1)
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'used', -1) end
return 2
"""

# KEYS: 1 the day's budget, 2 the hour's count. ARGV: 1 now, 2 cents Stark Bank lists for the
#       day, 3 forwards it lists for the day, 4 forwards it lists for the hour, 5 budget ttl.
# The listing replaces what was confirmed when it is larger; reservations still outstanding
# (counted, not yet confirmed) are kept on top.
# Returns 1 when this call seeded the day (and the hour), 0 when it was seeded before.
SEED = """
if redis.call('HSETNX', KEYS[1], 'seeded', ARGV[1]) == 0 then return 0 end
local function number(key, field) return tonumber(redis.call('HGET', key, field)) or 0 end
local cents, count, hour = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local confirmed, confirmed_count = number(KEYS[1], 'confirmed'), number(KEYS[1], 'confirmed_count')
local outstanding = number(KEYS[1], 'used') - confirmed
local outstanding_count = number(KEYS[1], 'count') - confirmed_count
confirmed, confirmed_count = math.max(confirmed, cents), math.max(confirmed_count, count)
redis.call('HSET', KEYS[1], 'confirmed', confirmed, 'confirmed_count', confirmed_count,
  'used', confirmed + outstanding, 'count', confirmed_count + outstanding_count)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], 'used', math.max(number(KEYS[2], 'used'), hour))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
