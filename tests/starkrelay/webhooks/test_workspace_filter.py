"""Which workspace the webhook route takes: the setting, else the id learned in Redis."""

from __future__ import annotations

import asyncio

from starkrelay import store
from starkrelay.store import Keys, connect
from starkrelay.webhooks.workspace import WorkspaceFilter


def test_setting_wins_then_the_learned_id_then_anyone(redis_url: str, key_prefix: str) -> None:
    async def main() -> None:
        redis, keys = connect(redis_url), Keys(key_prefix)
        try:
            unset, pinned = WorkspaceFilter(None), WorkspaceFilter("2222")
            assert await unset.expected(redis, keys) is None  # not known: anyone passes
            assert await store.learn_workspace_id(redis, keys, "1111") == "1111"
            assert await store.learn_workspace_id(redis, keys, "3333") == "1111"  # first wins
            assert await unset.expected(redis, keys) == "1111"
            assert await pinned.expected(redis, keys) == "2222"
            await redis.delete(keys.workspace_id())
            assert await unset.expected(redis, keys) == "1111"  # kept once learned
        finally:
            await redis.delete(keys.workspace_id())
            await redis.aclose()

    asyncio.run(main())
