"""Stark Bank throttling (HTTP 429) or failing is never a verdict on what we asked: nothing is
dead-lettered or counted against a forward for it, the work waits and goes on."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import starkbank
from tests.support.relay_harness import Relay, relay_context

from starkrelay.api.status import status_body
from starkrelay.api.wiring import run_reconciliation
from starkrelay.bank import BankGateway, BankUnavailableError, RetryPolicy
from starkrelay.core import metrics
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.invoicing.scheduler import CampaignRunner

pytestmark = pytest.mark.anyio

T0 = 1_900_000_000.0
ONE_ATTEMPT = RetryPolicy.off()


def throttled_calls() -> float:
    return sum(
        sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "starkrelay_bank_errors"
        for sample in family.samples
        if sample.labels.get("kind") == "throttled" and sample.name.endswith("_total")
    )


@pytest.fixture
def campaign_relay(redis_url: str, key_prefix: str) -> Any:
    sandbox = {"pay_share": 1.0, "pay_delay": 0.05, "initial_balance": 10**9, "seed": 3}
    with relay_context(
        redis_url, key_prefix, sandbox=sandbox, campaign_batch_min=10, campaign_batch_max=10,
        campaign_interval_seconds=10800, campaign_duration_seconds=86400,
        bank_backoff_max_seconds=0.05,
    ) as relay:  # fmt: skip
        relay.register_webhook()
        yield relay


async def test_a_throttled_slot_is_issued_paid_and_forwarded_once_with_no_dead_letters(
    campaign_relay: Relay,
) -> None:
    relay = campaign_relay
    relay.sb.set_faults(api_throttle_rate=0.4)
    throttled_before = throttled_calls()

    seen: dict[str, Any] = {}
    async with relay.services() as services:
        issuer = SlotIssuer(services.settings, services.store, services.bank, clock=lambda: T0)
        outcomes = []
        for _ in range(20):  # the scheduler ticks until the slot is issued
            outcomes += await CampaignRunner(issuer).tick()
            if outcomes:
                break
        assert [o.status for o in outcomes] == ["issued"]
        seen["invoices"] = list(outcomes[0].invoice_ids)
    # the worker makes ONE attempt per call: every 429 reaches its own handling
    async with relay.services(policy=ONE_ATTEMPT) as services:
        worker = relay.worker(services)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await worker.step(block=False) is None and "status" not in seen:
                seen["status"] = await status_body(services.store)
            stages = await services.store.redis.hgetall(services.store.keys.ledger_stages())
            if int(stages.get("success", 0)) + int(stages.get("sent", 0)) == 10:
                break
    async with relay.services() as services:  # reconciliation retries within each call
        await run_reconciliation(services)
        seen["dead_letters"] = await services.store.redis.xlen(
            services.store.keys.forward_dead_letters()
        )
    relay.sb.set_faults(api_throttle_rate=0.0)
    relay.sb.drain()
    assert seen["dead_letters"] == 0
    transfers = list(starkbank.transfer.query())
    by_external = Counter(t.external_id for t in transfers)
    assert sorted(by_external) == sorted(f"invoice-{i}" for i in seen["invoices"])
    assert set(by_external.values()) == {1}
    for transfer in transfers:
        invoice = starkbank.invoice.get(transfer.external_id.removeprefix("invoice-"))
        assert transfer.amount == invoice.amount - invoice.fee
    assert throttled_calls() > throttled_before
    assert seen["status"]["stark_bank"]["state"] == "throttled"
    assert seen["status"]["stark_bank"]["since"] > 0
    assert relay.sb.summary()["requestsThrottled"] > 0


async def test_retry_after_is_honoured_and_surfaces_to_the_caller(campaign_relay: Relay) -> None:
    """A ``Retry-After`` longer than what is left of the call's deadline ends the call at once
    with that wait for the caller, which waits it (capped) instead of hammering."""
    relay = campaign_relay
    relay.sb.set_faults(api_throttle_rate=1.0, api_throttle_retry_after=30)
    policy = RetryPolicy(deadline=1.0, max_wait=0.01, initial=0.001, backoff_cap=120)

    bank = BankGateway(relay.settings, policy=policy)
    started = time.monotonic()
    with pytest.raises(BankUnavailableError) as refused:
        await bank.get_balance()
    assert time.monotonic() - started < 0.9  # did not sleep 30 s, nor spin to the deadline
    refused = refused.value
    relay.sb.set_faults(api_throttle_rate=0.0, api_throttle_retry_after=None)  # type: ignore[arg-type]
    assert (refused.kind, refused.retry_after) == ("throttled", 30.0)
    assert policy.backoff(0, refused.retry_after) == 30.0
    assert policy.backoff(50) == 120.0  # doubling stops at the cap
    assert 0.001 <= policy.backoff(0) <= 0.0015  # jitter adds at most half
