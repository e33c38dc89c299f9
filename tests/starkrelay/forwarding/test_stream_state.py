"""The forward stream snapshot against a real Redis: lag stays right after deletions."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Store
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


async def test_an_entry_deleted_before_any_read_is_not_counted_as_lag(store: Store) -> None:
    stream = store.keys.forward_stream()
    await ensure_group(store)
    first = await store.redis.xadd(stream, {"n": "0"})
    await store.redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
    await store.redis.xack(stream, FORWARD_GROUP, first)
    lost = await store.redis.xadd(stream, {"n": "1"})
    await store.redis.xdel(stream, lost)  # lost before any consumer read it
    await store.redis.xadd(stream, {"n": "2"})
    waiting = (await stream_state(store)).lag
    await store.redis.xreadgroup(FORWARD_GROUP, "c", {stream: ">"})
    assert (waiting, (await stream_state(store)).lag) == (1, 0)
