"""The collector's settings for a long-running process.

Python's cyclic garbage collector walks every tracked object of a generation when it collects
it. A serving process holds a few hundred thousand long-lived objects from start-up (modules,
the app, its routes, validators and schemas) and allocates many short-lived ones per request,
so it collects often and walks the long-lived ones each time it reaches the oldest
generation: about a tenth of the webhook path's CPU (``bench/relay_throughput.py``, profiled
with ``perf``). ``settle_heap`` is called once a process has started: what exists then is
moved out of the collector's sight (``gc.freeze``; reference counting still frees it), and
the youngest generation is collected every ``YOUNG_THRESHOLD`` allocations instead of 700.
Cycles made later are still found and freed.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) between two collections of the youngest generation."""


def settle_heap() -> None:
    """Freeze what start-up built and collect the youngest generation less often (once per
    process, after start-up; the test suite's own processes never call it)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD)
