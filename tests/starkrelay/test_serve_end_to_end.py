"""``starkrelay serve`` as a real process against starksandbox and Redis: the compressed
campaign is issued once, the webhook registered once, and the process is ready and stops."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.support.ports import free_port
from tests.support.processes import relay_environment, starkrelay_command

from starkrelay.bank import BankGateway
from starkrelay.core.settings import Settings
from starkrelay.core.store import store_from_settings
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.issuance import SlotOutcome
from starksandbox.testing import SandboxHandle


async def _campaign_state(settings: Settings) -> tuple[Campaign | None, dict[int, SlotOutcome]]:
    store = store_from_settings(settings)
    try:
        campaign = await load_campaign(store)
        if campaign is None:
            return None, {}
        raw = await store.redis.hgetall(store.keys.campaign_slots(campaign.id))
        return campaign, {int(k): SlotOutcome.from_json(str(v)) for k, v in raw.items()}
    finally:
        await store.redis.aclose()


def test_serve_issues_the_whole_compressed_campaign(
    relay_settings: Callable[..., Settings],
    sandbox: SandboxHandle,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = relay_settings(api_external_url=base)
    env = relay_environment(
        sandbox,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        api_external_url=base,
        campaign_interval_seconds="0.2",
        campaign_duration_seconds="1.6",
        campaign_grace_seconds="10.0",  # a loaded machine must not skip a slot
        bank_retry_max_wait_seconds="0.05",
        log_level="WARNING",
    )
    command = starkrelay_command("serve", "--host", "127.0.0.1", "--port")
    process = subprocess.Popen([*command, str(port)], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        ready = False
        outcomes: dict[int, SlotOutcome] = {}
        campaign = None
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up and not (ready and len(outcomes) == 8):
            time.sleep(0.05)
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                ready = httpx.get(f"{base}/health/ready").status_code == 200
            except httpx.TransportError:
                continue
            campaign, outcomes = asyncio.run(_campaign_state(settings))
        assert ready
        assert campaign is not None
        assert sorted(outcomes) == list(range(8))
        assert {o.status for o in outcomes.values()} == {"issued"}
        metrics = httpx.get(f"{base}/metrics").text
        assert 'starkrelay_campaign_slots_total{outcome="issued"} 8.0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode(), stderr.decode()[-4000:]

    bank = BankGateway(settings)
    issued = asyncio.run(bank.find_invoices_by_tags([campaign.tag]))
    assert sorted(i.id for i in issued) == sorted(
        i for o in outcomes.values() for i in o.invoice_ids
    )
    hooks = asyncio.run(bank.list_webhooks())
    assert [(h.url, sorted(h.subscriptions)) for h in hooks] == [
        (f"{base}/api/v1/webhooks/starkbank", ["invoice", "transfer"])
    ]
