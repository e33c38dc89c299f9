"""Our Stark Bank workspace id, once learned from Stark Bank's records (shared by replicas)."""

from __future__ import annotations

from typing import cast

from starkrelay.core.store.connection import Redis
from starkrelay.core.store.keys import Keys


async def learned_workspace_id(redis: Redis, keys: Keys) -> str | None:
    """The workspace id learned so far, or None."""
    value = cast(str | None, await redis.get(keys.workspace_id()))
    return value or None


async def learn_workspace_id(redis: Redis, keys: Keys, workspace_id: str) -> str | None:
    """Keep `workspace_id` (what Stark Bank reports for our credentials: it replaces any older
    value, e.g. after a sandbox was recreated); returns the value it replaced, or None."""
    previous = cast(str | None, await redis.set(keys.workspace_id(), workspace_id, get=True))
    return previous or None
