"""XAUTOCLAIM as the reader uses it: the count is the number of entries claimed."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Keys, connect
from starkrelay.forwarding.reader import StreamReader, ensure_group
from starkrelay.ledger import FORWARD_GROUP

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("entries", [1, 2, 3, 7])
async def test_autoclaim_counts_every_claimed_entry(
    redis_url: str, key_prefix: str, entries: int
) -> None:
    redis, keys = connect(redis_url), Keys(key_prefix)
    try:
        await ensure_group(redis, keys)
        stream = keys.forward_stream()
        for n in range(entries):
            await redis.xadd(stream, {"invoice_id": str(n)})
        await redis.xreadgroup(FORWARD_GROUP, "dead", {stream: ">"}, count=100)
        live = StreamReader(redis, keys, "live", batch_size=100, claim_idle_seconds=0, block_ms=0)
        assert await live.autoclaim() == entries
        owners = await redis.xpending_range(stream, FORWARD_GROUP, "-", "+", 100)
        assert [p["consumer"] for p in owners] == ["live"] * entries
        assert await live.autoclaim() == entries  # idle 0: claimed again, counted again
        empty = StreamReader(
            redis, keys, "other", batch_size=100, claim_idle_seconds=3600, block_ms=0
        )
        assert await empty.autoclaim() == 0
    finally:
        await redis.delete(keys.forward_stream())
        await redis.aclose()
