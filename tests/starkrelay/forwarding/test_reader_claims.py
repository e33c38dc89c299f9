"""XAUTOCLAIM as the reader uses it: the count is the number of entries claimed."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Keys, Store, connect
from starkrelay.forwarding.reader import StreamReader, ensure_group
from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("entries", [1, 2, 3, 7])
async def test_autoclaim_counts_every_claimed_entry(
    redis_url: str, key_prefix: str, entries: int
) -> None:
    store = Store(connect(redis_url), Keys(key_prefix))
    try:
        await ensure_group(store)
        stream = store.keys.forward_stream()
        for n in range(entries):
            await store.redis.xadd(stream, {"invoice_id": str(n)})
        await store.redis.xreadgroup(FORWARD_GROUP, "dead", {stream: ">"}, count=100)
        live = StreamReader(store, "live", batch_size=100, claim_idle_seconds=0, block_ms=0)
        assert await live.autoclaim() == entries
        owners = await store.redis.xpending_range(stream, FORWARD_GROUP, "-", "+", 100)
        assert [p["consumer"] for p in owners] == ["live"] * entries
        assert await live.autoclaim() == entries  # idle 0: claimed again, counted again
        empty = StreamReader(store, "other", batch_size=100, claim_idle_seconds=3600, block_ms=0)
        assert await empty.autoclaim() == 0
    finally:
        await store.redis.delete(store.keys.forward_stream())
        await store.redis.aclose()
