"""The forward stream snapshot against a real Redis: lag stays right after deletions."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Keys, Redis
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


async def test_an_entry_deleted_before_any_read_is_not_counted_as_lag(
    redis: Redis, keys: Keys
) -> None:
    stream = keys.forward_stream()
    await ensure_group(redis, keys)
    first = await redis.xadd(stream, {"n": "0"})
    await redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
    await redis.xack(stream, FORWARD_GROUP, first)
    lost = await redis.xadd(stream, {"n": "1"})
    await redis.xdel(stream, lost)  # lost before any consumer read it
    await redis.xadd(stream, {"n": "2"})
    waiting = (await stream_state(redis, keys)).lag
    await redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
    assert (waiting, (await stream_state(redis, keys)).lag) == (1, 0)
