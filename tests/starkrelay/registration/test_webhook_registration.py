"""Webhook registration: exactly one webhook for our URL, however many replicas race."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.processes import relay_environment, starkrelay_command

from starkrelay.app import open_services
from starkrelay.bank import BankGateway
from starkrelay.core.settings import Settings
from starkrelay.webhooks.registration import SUBSCRIPTIONS, ensure_webhook
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/api/v1/webhooks/starkbank"


async def test_tasks_racing_register_one_webhook(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(api_external_url="http://127.0.0.1:9")
    assert settings.webhook_url == URL
    sandbox.set_faults(api_latency=0.02)  # widen the look-up/create window

    async def replica() -> str:
        async with open_services(settings) as services:
            hook = await ensure_webhook(services.bank, services.store, URL)
            return hook.id

    ids = await asyncio.gather(*(replica() for _ in range(6)))
    assert len(set(ids)) == 1
    hooks = await BankGateway(settings).list_webhooks()
    assert [(h.id, h.url, set(h.subscriptions)) for h in hooks] == [
        (ids[0], URL, set(SUBSCRIPTIONS))
    ]


async def test_incomplete_webhook_is_replaced_and_others_kept(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings()

    async with open_services(settings) as services:
        bank = services.bank
        incomplete = await bank.create_webhook(URL, ["invoice"])
        other = await bank.create_webhook("http://127.0.0.1:9/other", ["invoice"])
        kept = await ensure_webhook(bank, services.store, URL)
        assert kept.id != incomplete.id
        assert set(kept.subscriptions) == set(SUBSCRIPTIONS)
        assert sorted(h.id for h in await bank.list_webhooks()) == sorted([kept.id, other.id])
        assert await ensure_webhook(bank, services.store, URL) == kept


def test_processes_racing_register_one_webhook(
    relay_settings: Callable[..., Settings],
    sandbox: SandboxHandle,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    sandbox.set_faults(api_latency=0.02)
    env = relay_environment(
        sandbox, redis_url=redis_url, redis_key_prefix=key_prefix,
        api_external_url="http://127.0.0.1:9", log_level="WARNING", columns=200,
    )  # fmt: skip
    command = starkrelay_command("webhook", "ensure")
    processes = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0] * 3, outputs
    hooks = asyncio.run(BankGateway(relay_settings()).list_webhooks())
    assert len(hooks) == 1
    assert hooks[0].url == URL
    for stdout, _ in outputs:
        assert f"webhook {hooks[0].id} -> {URL}" in stdout.decode()
