"""Fixtures of the doctor's tests: Redis servers of their own (the shared one must not be
reconfigured)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from tests.support.redis_server import own_redis

HEALTHY_REDIS = ("--appendonly", "yes", "--maxmemory-policy", "noeviction")


@pytest.fixture
def own_redis_url() -> Iterator[Callable[..., str]]:
    """``own_redis_url(*args)`` -> URL of a fresh redis-server with those extra arguments
    (after ``--save "" --appendonly no``); every one started is stopped at the end."""
    with ExitStack() as stack:

        def start(*arguments: str) -> str:
            return stack.enter_context(own_redis(*arguments)).url()

        yield start


@pytest.fixture
def healthy_redis(own_redis_url: Callable[..., str]) -> str:
    """A Redis the doctor passes: append-only persistence, no eviction."""
    return own_redis_url(*HEALTHY_REDIS)
