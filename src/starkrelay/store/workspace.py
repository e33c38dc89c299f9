"""Our Stark Bank workspace id, once learned from Stark Bank's records (shared by replicas)."""

from __future__ import annotations

from typing import cast

from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys


async def learned_workspace_id(redis: Redis, keys: Keys) -> str | None:
    """The workspace id learned so far, or None."""
    value = cast(str | None, await redis.get(keys.workspace_id()))
    return value or None


async def learn_workspace_id(redis: Redis, keys: Keys, workspace_id: str) -> str:
    """Keep `workspace_id` unless one is already known; returns the one now stored.

    The first learned id wins (``SET NX``): a caller that gets back a different id than it
    offered has found a disagreement to report, never a reason to overwrite.
    """
    await redis.set(keys.workspace_id(), workspace_id, nx=True)
    stored = cast(str | None, await redis.get(keys.workspace_id()))
    return stored or workspace_id
