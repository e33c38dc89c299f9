"""Which workspace the webhook route takes: the setting, else the id learned in Redis (the
latest one Stark Bank reported), else anyone."""

from __future__ import annotations

import pytest

from starkrelay.core.store import Store
from starkrelay.ledger import workspace
from starkrelay.ledger.workspace import WorkspaceFilter

pytestmark = pytest.mark.anyio


async def test_setting_wins_then_the_learned_id_then_anyone(store: Store) -> None:
    unset, pinned = WorkspaceFilter(None), WorkspaceFilter("2222")
    rereading = WorkspaceFilter(None, recheck_seconds=0)
    assert await unset.expected(store) is None  # not known: anyone passes
    assert await workspace.learn_workspace_id(store, "1111") is None
    assert await unset.expected(store) == "1111"
    assert await pinned.expected(store) == "2222"
    assert await workspace.learn_workspace_id(store, "3333") == "1111"  # re-learned
    assert await unset.expected(store) == "1111"  # kept for recheck_seconds
    assert await rereading.expected(store) == "3333"
