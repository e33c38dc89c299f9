"""A real starkrelay for the browser tests: the emulator, Redis, and ``serve`` (API, campaign,
webhook registration, forwarding worker) under uvicorn in a thread, after a short compressed
campaign with dropped and duplicated webhook deliveries.

How it unfolds (about ten seconds):

1. starkrelay starts with a destination Stark Bank refuses (a bank code one digit short): the
   campaign issues 4 slots of 3-4 invoices, one invoice is paid, its forward is refused and
   dead-lettered;
2. starkrelay restarts on the same port with the right destination (an operator fixed it);
   the emulator now drops some deliveries and duplicates others; most invoices are paid and
   forwarded, a few stay unpaid.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from tests.support.ports import free_port
from tests.support.relay_harness import REFUSED_BANK_CODE
from tests.support.settings import settings_for

from starkrelay.core.settings import Settings
from starkrelay.core.store import Keys
from starkrelay.demo.environment import RelayThread
from starkrelay.invoicing.issuance import SlotOutcome
from starksandbox.testing import SandboxHandle, running_sandbox

ADMIN_TOKEN = "browser-test-admin-token-7d1e"
SLOTS = 4


@dataclass
class Scenario:
    sb: SandboxHandle
    settings: Settings
    url: str
    keys: Keys
    redis: redis.Redis
    invoice_ids: list[str]
    dead_invoice_id: str
    paid_ids: list[str]
    unpaid_ids: list[str]

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def wait_until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.02)


BROWSER: dict[str, Any] = {
    "admin_token": ADMIN_TOKEN,
    "log_level": "WARNING",
    "log_format": "json",
    "public_key_refresh_min_seconds": 0,
    "campaign_interval_seconds": 0.25,
    "campaign_duration_seconds": 0.25 * SLOTS,
    "campaign_grace_seconds": 3.0,
    "campaign_batch_min": 3,
    "campaign_batch_max": 4,
    "forward_claim_idle_seconds": 0.5,
    "forward_block_ms": 100,
    "forward_max_deliveries": 3,
    "bank_retry_deadline_seconds": 2.0,
    "bank_retry_max_wait_seconds": 0.05,
    "reconcile_lookback_days": 1,
    "console_refresh_seconds": 2,
}
"""What the browser's starkrelay runs with, over ``settings_for``'s: the console signed in by
``ADMIN_TOKEN`` and refreshing every 2 s, a campaign of ``SLOTS`` slots of 3-4 invoices a
quarter of a second apart."""


def scenario_settings(
    sb: SandboxHandle, redis_url: str, prefix: str, url: str, **overrides: Any
) -> Settings:
    """Settings of a starkrelay served at ``url`` for the browser; ``overrides`` win."""
    return settings_for(sb, redis_url, prefix, api_external_url=url, **(BROWSER | overrides))


@contextmanager
def scenario_redis(redis_url: str, name: str) -> Iterator[tuple[Keys, redis.Redis]]:
    """A key prefix of its own (``test-<name>-...``) and a client of the test's Redis; the
    prefix's keys go at the end."""
    keys = Keys(f"test-{name}-{uuid.uuid4().hex[:10]}")
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield keys, r
    finally:
        for key in r.scan_iter(match=keys.key("*"), count=500):
            r.unlink(key)
        r.close()


@contextmanager
def serving(settings: Settings, port: int) -> Iterator[None]:
    """starkrelay ``serve`` with ``settings`` on ``port`` of 127.0.0.1, in a thread."""
    relay = RelayThread(settings, _bound_socket(port))
    relay.start()
    try:
        yield
    finally:
        relay.stop()


def _outcomes(r: redis.Redis, keys: Keys) -> dict[int, SlotOutcome]:
    import json

    text = r.get(keys.campaign())
    if not text:
        return {}
    campaign_id = json.loads(text)["id"]
    raw = r.hgetall(keys.campaign_slots(campaign_id))
    return {int(k): SlotOutcome.from_json(v) for k, v in raw.items()}


def _settled(sb: SandboxHandle, r: redis.Redis, keys: Keys) -> bool:
    """No delivery in flight, nothing waiting in or held from the forward stream, no transfer
    still moving at Stark Bank. (A ledger may stay ``sent`` when the transfer's ``success``
    delivery was dropped: reconciliation is what catches that up.)"""
    sb.drain(timeout=2)
    transfers = sb.summary().get("transfers", {})
    moving = transfers.get("created", 0) + transfers.get("processing", 0)
    groups = r.xinfo_groups(keys.forward_stream()) if r.exists(keys.forward_stream()) else []
    queued = sum(int(g.get("pending") or 0) + int(g.get("lag") or 0) for g in groups)
    return moving == 0 and queued == 0


@contextmanager
def running_scenario(redis_url: str) -> Iterator[Scenario]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        scenario_redis(redis_url, "browser") as (keys, r),
        running_sandbox(pay_share=0.0, initial_balance=10**9, transfer_fee=0) as sb,
    ):
        prefix = keys.prefix
        refused = scenario_settings(
            sb, redis_url, prefix, url, destination_bank_code=REFUSED_BANK_CODE
        )
        with serving(refused, port):
            wait_until(lambda: len(_outcomes(r, keys)) == SLOTS, 20, "the campaign's slots")
            invoice_ids = [i for o in sorted(_outcomes(r, keys).items()) for i in o[1].invoice_ids]
            dead_invoice_id = invoice_ids[0]
            sb.pay_invoice(dead_invoice_id)
            wait_until(lambda: r.xlen(keys.forward_dead_letters()) == 1, 20, "a dead letter")
        settings = scenario_settings(sb, redis_url, prefix, url)
        sb.set_faults(webhook_drop_rate=0.25, webhook_duplicate_rate=0.5)
        rest = invoice_ids[1:]
        paid_ids, unpaid_ids = rest[:-2], rest[-2:]
        with serving(settings, port):
            for invoice_id in paid_ids:
                sb.pay_invoice(invoice_id)
            wait_until(lambda: _settled(sb, r, keys), 30, "the forwards to settle")
            yield Scenario(
                sb, settings, url, keys, r, invoice_ids, dead_invoice_id, paid_ids, unpaid_ids
            )
