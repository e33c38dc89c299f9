"""Reading the forward stream as one consumer of the group: own pending entries first, then
entries claimed from dead consumers, then new ones. Nothing here acknowledges an entry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from redis.exceptions import ResponseError

from starkrelay.core.store import Store
from starkrelay.ledger import FORWARD_GROUP
from starkrelay.ledger.identity import ForwardItem

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Entry:
    """One stream entry handed to this worker; `deliveries` counts this one."""

    id: str
    item: ForwardItem | None
    deliveries: int
    enqueued_at: float | None
    event_id: str | None = None
    """The Stark Bank event that enqueued it (None when reconciliation did)."""
    workspace_id: str | None = None
    """The workspace that event claimed to come from (a claim until ownership is read)."""

    @property
    def readable_item(self) -> ForwardItem:
        """The item of an entry known to be readable (unreadable ones are dropped first)."""
        assert self.item is not None
        return self.item


async def ensure_group(store: Store) -> None:
    """Create the stream and its consumer group if missing (idempotent, any replica)."""
    try:
        await store.redis.xgroup_create(
            store.keys.forward_stream(), FORWARD_GROUP, id="0", mkstream=True
        )
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def first_per_attempt(entries: list[Entry]) -> list[Entry]:
    """The first entry of each attempt. Two entries of one attempt in a batch (a lost entry
    re-enqueued that was not lost after all) would make Stark Bank refuse the whole create;
    the later ones stay pending and are settled next round by looking their transfer up."""
    seen: set[str] = set()
    first: list[Entry] = []
    for entry in entries:
        external_id = entry.readable_item.external_id
        if external_id in seen:
            log.info(
                "forwarding.entry.same_attempt_later", entry_id=entry.id, external_id=external_id
            )
            continue
        seen.add(external_id)
        first.append(entry)
    return first


class StreamReader:
    """Hands out batches of entries to consumer `name` (stable across restarts)."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        batch_size: int,
        claim_idle_seconds: float,
        block_ms: int,
        fill_quiet_seconds: float = 0.003,
        fill_max_seconds: float = 0.25,
        read_turn: anyio.Lock | None = None,
    ) -> None:
        self.store, self.name = store, name
        self.read_turn = read_turn or anyio.Lock()
        """Held while reading new entries; the consumers of one process share it, so one
        batch fills before the next consumer takes what is left (a burst's tail is not split
        into two part-batches, each costing its own Stark Bank calls)."""
        self.fill_quiet_seconds, self.fill_max_seconds = fill_quiet_seconds, fill_max_seconds
        self.batch_size, self.claim_idle_seconds, self.block_ms = (
            batch_size,
            claim_idle_seconds,
            block_ms,
        )

    async def own_pending(self) -> list[Entry]:
        stream = self.store.keys.forward_stream()
        pending = await self.store.redis.xpending_range(
            stream, FORWARD_GROUP, min="-", max="+", count=self.batch_size,
            consumername=self.name,
        )  # fmt: skip
        if not pending:
            return []
        deliveries = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        reply = await self.store.redis.xreadgroup(
            FORWARD_GROUP, self.name, {stream: "0"}, count=self.batch_size
        )
        return [self.entry(i, f, deliveries.get(i, 1) + 1) for i, f in _entries(reply)]

    async def forgive(self, entry_ids: list[str | int | bytes | memoryview]) -> None:
        """Set the delivery count of entries this consumer holds back to zero: the last
        delivery ended in no answer about them (Stark Bank throttling or down), so it must
        not bring them nearer the dead-letter stream."""
        if entry_ids:
            await self.store.redis.xclaim(
                self.store.keys.forward_stream(), FORWARD_GROUP, self.name, min_idle_time=0,
                message_ids=entry_ids, retrycount=0, justid=True,
            )  # fmt: skip

    async def autoclaim(self) -> int:
        result = await self.store.redis.xautoclaim(
            self.store.keys.forward_stream(),
            FORWARD_GROUP,
            self.name,
            min_idle_time=int(self.claim_idle_seconds * 1000),
            start_id="0-0",
            count=self.batch_size,
            justid=True,
        )
        claimed = list(result or [])  # with JUSTID, redis-py returns the claimed ids alone
        if claimed:
            log.warning("forwarding.entries.claimed", consumer=self.name, count=len(claimed))
        return len(claimed)

    async def read_new(self, *, block: bool) -> list[Entry]:
        """New entries, up to a batch. A partial batch is topped up while entries keep coming
        (no gap longer than ``fill_quiet_seconds``, for at most ``fill_max_seconds``), so a
        burst goes out in full batches while a lone entry waits only one quiet gap. A gap
        counts only when this process kept to time: after the event loop was busy elsewhere
        (the wait overran twice over), requests received meanwhile may not be in yet."""
        async with self.read_turn:
            entries = await self._read(self.batch_size, self.block_ms if block else 0)
            if not entries:
                return []
            deadline = time.monotonic() + self.fill_max_seconds
            while len(entries) < self.batch_size and time.monotonic() < deadline:
                asleep = time.monotonic()
                await asyncio.sleep(self.fill_quiet_seconds)
                late = time.monotonic() - asleep > 2 * self.fill_quiet_seconds
                more = await self._read(self.batch_size - len(entries), 0)
                if not more and not late:
                    break
                entries += more
            return entries

    async def _read(self, count: int, block_ms: int) -> list[Entry]:
        reply = await self.store.redis.xreadgroup(
            FORWARD_GROUP,
            self.name,
            {self.store.keys.forward_stream(): ">"},
            count=count,
            block=block_ms if block_ms > 0 else None,
        )
        return [self.entry(i, f, 1) for i, f in _entries(reply)]

    def entry(self, entry_id: str, fields: dict[str, str] | None, deliveries: int) -> Entry:
        if not fields:
            return Entry(entry_id, None, deliveries, None)
        try:
            item = ForwardItem.from_fields(fields)
        except ValueError:
            item = None
        enqueued = fields.get("enqueued_at")
        return Entry(
            entry_id,
            item,
            deliveries,
            float(enqueued) if enqueued else None,
            event_id=fields.get("event_id") or None,
            workspace_id=fields.get("workspace_id") or None,
        )


def _entries(reply: Any) -> list[tuple[str, dict[str, str] | None]]:
    """Flatten an XREADGROUP reply (RESP2 list form) to (id, fields) pairs."""
    out: list[tuple[str, dict[str, str] | None]] = []
    for _stream, messages in reply or []:
        for entry_id, fields in messages:
            out.append((str(entry_id), dict(fields) if fields else None))
    return out
