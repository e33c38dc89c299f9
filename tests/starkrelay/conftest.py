"""Fixtures for starkrelay tests: settings pointed at the test's sandbox and Redis prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle

SettingsFactory = Callable[..., Settings]


def settings_for(sandbox: SandboxHandle, redis: str, prefix: str, /, **overrides: Any) -> Settings:
    """Settings for the service under test: the sandbox's project, compressed timings."""
    values: dict[str, Any] = {
        "stark_project_id": sandbox.project_id,
        "stark_private_key": sandbox.private_key,
        "stark_api_url": sandbox.url,
        "redis_url": redis,
        "redis_key_prefix": prefix,
        "bank_retry_deadline_seconds": 3.0,
        "bank_retry_max_wait_seconds": 0.02,
        "bank_timeout_seconds": 5.0,
        "campaign_interval_seconds": 0.2,
        "campaign_duration_seconds": 1.6,
        "campaign_grace_seconds": 0.5,
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def relay_settings(sandbox: SandboxHandle, redis_url: str, key_prefix: str) -> SettingsFactory:
    """``relay_settings(**overrides)`` -> Settings for this test's sandbox and key prefix."""

    def make(**overrides: Any) -> Settings:
        return settings_for(sandbox, redis_url, key_prefix, **overrides)

    return make


@pytest.fixture
def sandbox_workspace_id(sandbox: SandboxHandle) -> str:
    """The workspace id this test's emulator names in its events: what Stark Bank reports for
    the project's credentials, so what production settings give as ``STARK_WORKSPACE_ID``."""
    assert sandbox.server.sandbox is not None, "the sandbox has not started"
    return sandbox.server.sandbox.ws.workspace_id
