"""A snapshot of the forward stream for status and metrics: depth, lag, pending, dead letters."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from starkrelay.core.store import Store
from starkrelay.ledger import FORWARD_GROUP


@dataclass(frozen=True)
class StreamState:
    lag: int
    """Entries never delivered to a worker."""
    pending: int
    """Entries delivered and not yet acknowledged."""
    oldest_pending_seconds: float
    dead_letters: int
    consumers: int

    @property
    def depth(self) -> int:
        return self.lag + self.pending

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"depth": self.depth}


async def stream_state(store: Store) -> StreamState:
    """Read the forward stream's group state (zeros when nothing was ever enqueued)."""
    stream = store.keys.forward_stream()
    dead = int(await store.redis.xlen(store.keys.forward_dead_letters()))
    if not await store.redis.exists(stream):
        return StreamState(0, 0, 0.0, dead, 0)
    groups = await store.redis.xinfo_groups(stream)
    group = next((g for g in groups if g.get("name") == FORWARD_GROUP), None)
    if group is None:
        return StreamState(int(await store.redis.xlen(stream)), 0, 0.0, dead, 0)
    lag = group.get("lag")
    last = str(group.get("last-delivered-id", "0-0"))
    if lag is None:  # unknown after deletions: count entries after the last delivered id
        lag = len(await store.redis.xrange(stream, min=f"({last}", max="+") or [])
    elif lag and not await store.redis.xrange(stream, min=f"({last}", max="+", count=1):
        lag = 0  # Redis can keep counting an entry deleted (XDEL) before any consumer read it
    pending = int(group.get("pending", 0))
    oldest = 0.0
    if pending:
        summary = await store.redis.xpending(stream, FORWARD_GROUP)
        first = summary.get("min") if isinstance(summary, dict) else None
        if first:
            oldest = max(0.0, time.time() - int(str(first).split("-")[0]) / 1000)
    return StreamState(int(lag), pending, oldest, dead, int(group.get("consumers", 0)))


async def trim_acknowledged(store: Store) -> int:
    """Delete forward entries every worker is done with; returns how many were deleted.

    The floor is the oldest pending entry, else the group's last delivered one: pending and
    never-delivered entries are never trimmed (a dead worker's entries must survive until
    another claims them). Entries that arrive or get delivered meanwhile are above the floor.
    """
    stream = store.keys.forward_stream()
    if not await store.redis.exists(stream):
        return 0
    groups = await store.redis.xinfo_groups(stream)
    group = next((g for g in groups if g.get("name") == FORWARD_GROUP), None)
    if group is None:
        return 0
    floor = str(group.get("last-delivered-id", "0-0"))
    summary = await store.redis.xpending(stream, FORWARD_GROUP)
    if isinstance(summary, dict) and summary.get("pending"):
        floor = str(summary["min"])
    if floor == "0-0":
        return 0
    return int(await store.redis.xtrim(stream, minid=floor, approximate=False))
