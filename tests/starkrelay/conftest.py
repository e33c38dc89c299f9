"""Fixtures for starkrelay tests: settings pointed at the test's sandbox and Redis prefix, and
the money-path relay (see ``tests.support.relay_harness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.relay_harness import Relay, relay_context
from tests.support.settings import settings_for

from starkrelay.core.settings import Settings
from starkrelay.core.store import Keys, Redis, Store, connect
from starksandbox.testing import SandboxHandle

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def relay_settings(sandbox: SandboxHandle, redis_url: str, key_prefix: str) -> SettingsFactory:
    """``relay_settings(**overrides)`` -> Settings for this test's sandbox and key prefix."""

    def make(**overrides: Any) -> Settings:
        return settings_for(sandbox, redis_url, key_prefix, **overrides)

    return make


@pytest.fixture
async def redis(redis_url: str, keys: Keys) -> AsyncIterator[Redis]:
    """An async client of the test's Redis (async tests only); the test's keys go at the end."""
    client = connect(redis_url)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=keys.key("*")):
            await client.unlink(name)
        await client.aclose()


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    """The Redis key namespace of this test."""
    return Keys(key_prefix)


@pytest.fixture
def store(redis: Redis, keys: Keys) -> Store:
    """The test's Redis client and key namespace, as the features receive them."""
    return Store(redis, keys)


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """Sandbox (invoices paid only on demand) + relay API; the webhook registered."""
    with relay_context(redis_url, key_prefix, sandbox={"pay_share": 0.0}) as r:
        r.register_webhook()
        yield r


@pytest.fixture
def quiet_relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """No HTTP relay (tests enqueue what an event claims), money in the bank, invoices paid
    only on demand."""
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9}
    with relay_context(redis_url, key_prefix, serve=False, sandbox=sandbox) as r:
        yield r


@pytest.fixture
def sandbox_workspace_id(sandbox: SandboxHandle) -> str:
    """The workspace id this test's emulator names in its events: what Stark Bank reports for
    the project's credentials, so what production settings give as ``STARK_WORKSPACE_ID``."""
    assert sandbox.server.sandbox is not None, "the sandbox has not started"
    return sandbox.server.sandbox.ws.workspace_id


@pytest.fixture
def cli_environment(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: SandboxHandle,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> Keys:
    """The environment a command line reads (the emulator, this test's Redis and key prefix),
    run from an empty folder (no ``.env``); the test's key names."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "STARK_PROJECT_ID": sandbox.project_id,
        "STARK_PRIVATE_KEY": sandbox.private_key,
        "STARK_API_URL": sandbox.url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "API_EXTERNAL_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    return Keys(key_prefix)
