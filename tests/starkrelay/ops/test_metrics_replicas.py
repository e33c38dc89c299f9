"""Every replica tells the truth on /metrics: the shared state is read from Redis at scrape
time, so an ``api`` replica that never served ``/api/v1/status`` reports a dead letter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import starkbank
from prometheus_client.parser import text_string_to_metric_families
from tests.support.relay_harness import (
    Relay,
    RelayServer,
    create_invoice,
    forward_all,
    misdirected_worker,
    relay_api,
    relay_context,
)

from starkrelay.api.deps import Services
from starkrelay.api.scrape import render_metrics
from starkrelay.api.wiring import run_reconciliation
from starkrelay.app import open_services
from starkrelay.core.settings import Settings
from starkrelay.invoicing.issuance import SlotIssuer
from starkrelay.invoicing.scheduler import CampaignRunner
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def shared_lines(text: str) -> list[str]:
    """The lines that describe shared state (the same in every replica)."""
    prefixes = ("starkrelay_forward_stream_", "starkrelay_forward_dead_letters",
                "starkrelay_forward_invoices", "starkrelay_shared_state_up")  # fmt: skip
    return sorted(line for line in text.splitlines() if line.startswith(prefixes)
                  and not line.startswith("starkrelay_forward_stream_oldest"))  # fmt: skip


def credit_one(relay: Relay, amount: int = 5_000) -> int:
    """An invoice of ours paid; its credited event delivered to the api replica (enqueued).
    Returns its net (amount - fee)."""
    relay.register_webhook()
    invoice = create_invoice(amount)
    relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()
    return int(invoice.amount - starkbank.invoice.get(invoice.id).fee)


async def forward_refused(relay: Relay, services: Services) -> None:
    """Run a worker whose destination Stark Bank refuses: every queued forward is dead."""
    await forward_all(misdirected_worker(relay, services), services)


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    with relay_context(redis_url, key_prefix, sandbox={"pay_share": 0.0}) as r:
        yield r


async def test_an_api_replica_that_never_served_status_reports_a_dead_letter(relay: Relay) -> None:
    assert relay.server is not None
    before = samples((await relay_api(relay, "GET", "/metrics")).text)
    assert before[("starkrelay_shared_state_up", ())] == 1.0
    assert before[("starkrelay_forward_dead_letters", ())] == 0.0

    credit_one(relay)

    async with relay.services() as services:
        await forward_refused(relay, services)

    with RelayServer(relay.settings) as second:  # another api replica, started afterwards
        async with httpx.AsyncClient() as client:
            replicas = (relay.server.url, second.url)
            texts = [(await client.get(url + "/metrics")).text for url in replicas]
    for text in texts:
        after = samples(text)
        assert after[("starkrelay_forward_dead_letters", ())] == 1.0
        assert after[("starkrelay_forward_invoices", (("stage", "dead"),))] == 1.0
        assert after[("starkrelay_forward_invoices", (("stage", "queued"),))] == 0.0
        assert after[("starkrelay_forward_stream_depth", ())] == 0.0
    assert shared_lines(texts[0]) == shared_lines(texts[1])


async def test_money_report_and_last_reconciliation_time_from_redis(relay: Relay) -> None:
    assert relay.server is not None
    text = (await relay_api(relay, "GET", "/metrics")).text
    assert "starkrelay_reconcile_last_success_timestamp_seconds" not in text  # none ran yet
    net = credit_one(relay)
    started = time.time()

    async with relay.services() as services:
        await forward_refused(relay, services)
        await run_reconciliation(services)
    found = samples((await relay_api(relay, "GET", "/metrics")).text)
    when = found[("starkrelay_reconcile_last_success_timestamp_seconds", ())]
    assert started - 1 <= when <= time.time()
    assert found[("starkrelay_reconcile_report_cents", (("line", "dead_lettered"),))] == net
    assert found[("starkrelay_reconcile_disagreements", ())] == 0.0


T0 = 1_900_000_000.0
INTERVAL = 10800.0


async def test_campaign_progress_by_slot_status(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(
        campaign_interval_seconds=INTERVAL, campaign_duration_seconds=86400,
        campaign_grace_seconds=1800, campaign_batch_min=2, campaign_batch_max=2,
    )  # fmt: skip
    now = [T0]

    async def scenario() -> str:
        async with open_services(settings) as services:
            issuer = SlotIssuer(settings, services.store, services.bank, clock=lambda: now[0])
            runner = CampaignRunner(issuer)
            await runner.tick()  # slot 0 issued
            now[0] = T0 + 3 * INTERVAL + 1200  # slots 1 and 2 missed, slot 3 late
            await runner.tick()
            return (await render_metrics(services.store, settings)).decode()

    found = samples(await scenario())
    by_status = {
        labels[0][1]: value
        for (name, labels), value in found.items()
        if name == "starkrelay_campaign_slots_by_status"
    }
    assert by_status == {"issued": 2, "skipped": 2, "failed": 0, "pending": 4}
    assert found[("starkrelay_campaign_invoices", ())] == 4
