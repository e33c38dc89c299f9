"""settle_heap: what start-up built is frozen, the young generation collected less often, and
a cycle made later is still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from starkrelay.core.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Node:
    peer: Node | None = None


def test_settle_heap_freezes_what_exists_and_still_frees_later_cycles(
    restored_collector: None,
) -> None:
    before = gc.get_threshold()
    long_lived = [[n] for n in range(1_000)]
    settle_heap()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    cycle = Node()
    cycle.peer = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None
