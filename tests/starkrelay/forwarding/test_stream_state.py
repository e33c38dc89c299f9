"""The forward stream snapshot against a real Redis: lag stays right after deletions."""

from __future__ import annotations

import asyncio

from starkrelay.core.store import Keys, connect
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.ledger import FORWARD_GROUP


def test_an_entry_deleted_before_any_read_is_not_counted_as_lag(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> tuple[int, int]:
        redis, keys = connect(redis_url), Keys(key_prefix)
        stream = keys.forward_stream()
        try:
            await ensure_group(redis, keys)
            first = await redis.xadd(stream, {"n": "0"})
            await redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
            await redis.xack(stream, FORWARD_GROUP, first)
            lost = await redis.xadd(stream, {"n": "1"})
            await redis.xdel(stream, lost)  # lost before any consumer read it
            await redis.xadd(stream, {"n": "2"})
            waiting = (await stream_state(redis, keys)).lag
            await redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
            return waiting, (await stream_state(redis, keys)).lag
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) == (1, 0)
