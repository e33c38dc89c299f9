"""The one way tests make ``Settings``: the sandbox's project, this test's Redis key prefix and
compressed timings; a test names only the values it is about."""

from __future__ import annotations

from typing import Any

from starkrelay.core.settings import Settings, load_settings
from starksandbox.testing import SandboxHandle


def settings_for(sandbox: SandboxHandle, redis: str, prefix: str, /, **overrides: Any) -> Settings:
    """Settings for the service under test (no ``.env`` file read); ``overrides`` win."""
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
    return load_settings(_env_file=None, **(values | overrides))
