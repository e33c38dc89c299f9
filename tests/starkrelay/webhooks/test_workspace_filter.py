"""Which workspace the webhook route takes: the setting, else the id learned in Redis (the
latest one Stark Bank reported), else anyone."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Keys, Redis
from starkrelay.ledger import workspace
from starkrelay.ledger.workspace import WorkspaceFilter

pytestmark = pytest.mark.anyio


async def test_setting_wins_then_the_learned_id_then_anyone(redis: Redis, keys: Keys) -> None:
    unset, pinned = WorkspaceFilter(None), WorkspaceFilter("2222")
    rereading = WorkspaceFilter(None, recheck_seconds=0)
    assert await unset.expected(redis, keys) is None  # not known: anyone passes
    assert await workspace.learn_workspace_id(redis, keys, "1111") is None
    assert await unset.expected(redis, keys) == "1111"
    assert await pinned.expected(redis, keys) == "2222"
    assert await workspace.learn_workspace_id(redis, keys, "3333") == "1111"  # re-learned
    assert await unset.expected(redis, keys) == "1111"  # kept for recheck_seconds
    assert await rereading.expected(redis, keys) == "3333"
