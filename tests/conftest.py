"""Shared fixtures: a real Redis for every test that needs one.

Order of preference: ``$REDIS_URL``; a Redis answering on 127.0.0.1:6379; an embedded Valkey
started for this test session. Each test gets its own key prefix, so tests never see each
other's keys and no database is flushed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import structlog

from starksandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture(autouse=True, scope="session")
def _loggers_follow_the_configuration() -> Iterator[None]:
    """``configure_logging`` caches each logger on first use (cheaper in production). In one
    test process, a logger cached while a CLI test ran would ignore a later test's
    ``capture_logs``, so tests never cache."""
    configure = structlog.configure

    def uncached(**settings: Any) -> None:
        configure(**(settings | {"cache_logger_on_first_use": False}))

    structlog.configure = uncached  # type: ignore[assignment]
    structlog.configure(cache_logger_on_first_use=False)
    yield
    structlog.configure = configure  # type: ignore[assignment]


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server for the whole test session."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    local = "redis://127.0.0.1:6379/0"
    if _answers(local):
        yield local
        return
    from starkrelay.core.embedded_redis import embedded_url, start_embedded_valkey

    server = start_embedded_valkey()
    try:
        yield embedded_url(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (``pytestmark = pytest.mark.anyio``) run on asyncio, one event loop each."""
    return "asyncio"


@pytest.fixture
def key_prefix() -> str:
    """A key prefix unique to this test."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """A fresh starksandbox (compressed timings) with the SDK pointed at it for this test.

    ``@pytest.mark.sandbox(**overrides)`` changes its configuration, e.g. ``pay_share=0.0``
    for a test that pays each invoice itself."""
    marker = request.node.get_closest_marker("sandbox")
    with running_sandbox(**(marker.kwargs if marker else {})) as handle:
        yield handle
