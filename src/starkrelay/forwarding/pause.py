"""The pause switch: one Redis flag that stops every replica from creating transfers.

What a caller may rely on:

- ``pause`` sets the flag (``Keys.forward_pause``: who, when, why) and records the action in
  the pause log; ``resume`` deletes it and records that. Both are idempotent: pausing a
  paused outflow keeps the first record and says so.
- Every worker reads the flag once per round, before it reads any entry (a paused worker
  reads nothing, so forwards wait in the stream, never acknowledged, never lost), and again
  in ``enter_create``: one script that refuses while paused, else marks a create in flight
  (``Keys.forward_creating``, with an expiry in case the worker dies). Only then is
  ``transfer.create`` called, and the mark is removed when it returns.
- The pause is *acknowledged* once the flag is set and no create is in flight: from then on
  no transfer can be created until ``resume``. ``wait_acknowledged`` waits for that (creates
  already on their way finish; the flag stops the next ones).
- A worker that restarts while paused reads the flag on its first round and stays paused.

Nothing here moves a forward's stage; entries read before a pause stay pending in their
consumer and are sent, once, after ``resume`` (their ``external_id`` guards any repeat).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import anyio
import structlog

from starkrelay.core.store import Store

log = structlog.get_logger(__name__)

LOG_KEPT = 100
"""Pause and resume records kept (newest first)."""

# KEYS: 1 the pause flag, 2 the creates in flight. ARGV: 1 member, 2 its expiry (epoch s).
# Returns 1 (marked: create now) or 0 (paused: do not create).
_ENTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class PauseState:
    """Whether outflow is paused, by whom and since when, and the creates still in flight."""

    paused: bool
    at: float | None = None
    by: str = ""
    reason: str = ""
    in_flight: int = 0
    """Transfer creates that started before the pause and have not returned yet."""

    @property
    def acknowledged(self) -> bool:
        """Paused, and no create in flight: nothing can be created until resumed."""
        return self.paused and self.in_flight == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "at": self.at,
            "by": self.by or None,
            "reason": self.reason or None,
            "in_flight_creates": self.in_flight,
            "acknowledged": self.acknowledged,
        }


async def is_paused(store: Store) -> bool:
    """True while outflow is paused (one round trip: what every worker asks each round)."""
    return bool(await store.redis.exists(store.keys.forward_pause()))


async def in_flight(store: Store, now: float | None = None) -> int:
    """Creates in flight, forgetting marks past their expiry (a worker died mid-create)."""
    creating = store.keys.forward_creating()
    await store.redis.zremrangebyscore(creating, "-inf", f"({time.time() if now is None else now}")
    return int(await store.redis.zcard(creating))


async def pause_state(store: Store) -> PauseState:
    raw = cast(dict[str, str], await store.redis.hgetall(store.keys.forward_pause()))
    flying = await in_flight(store)
    if not raw:
        return PauseState(False, in_flight=flying)
    return PauseState(
        True,
        at=float(raw.get("at") or 0) or None,
        by=raw.get("by", ""),
        reason=raw.get("reason", ""),
        in_flight=flying,
    )


async def _record(store: Store, action: str, by: str, reason: str, now: float) -> None:
    entry = json.dumps({"action": action, "by": by, "reason": reason, "at": now})
    pipe = store.redis.pipeline(transaction=True)
    pipe.lpush(store.keys.forward_pause_log(), entry)
    pipe.ltrim(store.keys.forward_pause_log(), 0, LOG_KEPT - 1)
    await pipe.execute()


async def pause(store: Store, by: str, reason: str = "") -> bool:
    """Pause all outflow; True when this call paused it (False: it already was, and the
    first pause's record is kept). ``by`` names who: ``console:<session>``, ``cli:<user>``,
    ``api:<client>``."""
    now = time.time()
    fields = {"at": f"{now:.6f}", "by": by[:120], "reason": reason[:300]}
    pipe = store.redis.pipeline(transaction=True)
    pipe.hsetnx(store.keys.forward_pause(), "at", fields["at"])
    pipe.hgetall(store.keys.forward_pause())
    first, _ = await pipe.execute()
    if first:
        await store.redis.hset(
            store.keys.forward_pause(), items=[v for pair in fields.items() for v in pair]
        )
        await _record(store, "pause", fields["by"], fields["reason"], now)
    log.warning("forwarding.outflow.paused", by=by, reason=reason, already_paused=not first)
    return bool(first)


async def resume(store: Store, by: str) -> bool:
    """Resume outflow; True when this call resumed it (False: it was not paused)."""
    now = time.time()
    was_paused = bool(await store.redis.delete(store.keys.forward_pause()))
    if was_paused:
        await _record(store, "resume", by[:120], "", now)
    log.warning("forwarding.outflow.resumed", by=by, was_paused=was_paused)
    return was_paused


async def pause_log(store: Store, count: int = 20) -> list[dict[str, Any]]:
    """The last `count` pauses and resumes, newest first (action, by, reason, at)."""
    raw = await store.redis.lrange(store.keys.forward_pause_log(), 0, count - 1)
    return [cast(dict[str, Any], json.loads(str(text))) for text in raw or []]


async def wait_acknowledged(store: Store, within: float, poll: float = 0.05) -> PauseState:
    """The pause state once acknowledged (paused, no create in flight), or as it stands after
    `within` seconds; returns at once when outflow is not paused."""
    deadline = time.monotonic() + within
    while True:
        state = await pause_state(store)
        if not state.paused or state.acknowledged or time.monotonic() >= deadline:
            return state
        await anyio.sleep(poll)


async def enter_create(store: Store, member: str, ttl: float) -> bool:
    """Right before a create: False while paused; else the create is marked in flight (until
    ``leave_create``, or `ttl` seconds if the process dies) and True."""
    expiry = f"{time.time() + ttl:.6f}"
    pause_flag, creating = store.keys.forward_pause(), store.keys.forward_creating()
    return bool(await store.redis.eval(_ENTER, 2, pause_flag, creating, member, expiry))


async def leave_create(store: Store, member: str) -> None:
    """The create marked as ``member`` returned (created, refused or failed)."""
    await store.redis.zrem(store.keys.forward_creating(), member)
