"""Ownership before money, against the emulator: Stark Bank's credited record, read with our
credentials, decides whether a forward is made and for how much."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import starkbank
from structlog.testing import capture_logs
from tests.support.relay_harness import (
    DiesBeforeCreate,
    Killed,
    Relay,
    credit_invoices,
    enqueue_credited,
    faults_after_ownership_read,
    forward_all,
    forwards_of,
    ledger_of,
    ownership_calls,
    relay_context,
    stream_length,
    wait_for,
)

from starkrelay.api.wiring import run_reconciliation
from starkrelay.core import relay_metrics as metrics
from starkrelay.ledger import workspace
from starksandbox.config import SandboxConfig
from starksandbox.keys import generate_private_key, new_key_pair, private_pem
from starksandbox.sdk import point_sdk_at
from starksandbox.server import SandboxServer
from starksandbox.testing import TEST_DEFAULTS

pytestmark = pytest.mark.anyio

SIGNING_KEY = private_pem(generate_private_key())  # Stark Bank signs every workspace's events
OURS, THEIRS = "1111111111111111", "2222222222222222"


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """Our workspace: the relay's API with the webhook registered, money in the bank."""
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9}
    sandbox |= {"signing_key": SIGNING_KEY, "workspace_id": OURS}
    with relay_context(redis_url, key_prefix, sandbox=sandbox) as r:
        r.register_webhook()
        yield r


@dataclass
class Stranger:
    """Another Stark Bank customer who registered OUR webhook URL as theirs."""

    server: SandboxServer
    project: Any
    our_url: str

    @contextmanager
    def sdk(self) -> Iterator[None]:
        point_sdk_at(self.server.url)
        try:
            yield
        finally:
            point_sdk_at(self.our_url)

    def pays_an_invoice(self, amount: int) -> tuple[str, str]:
        """Issue and pay an invoice in the stranger's workspace; (invoice id, event id) of
        the credited event delivered to us."""
        with self.sdk():
            [invoice] = starkbank.invoice.create(
                [starkbank.Invoice(amount=amount, name="Joana Prado", tax_id="012.345.678-90")],
                user=self.project,
            )
        httpx.post(
            f"{self.server.url}/sandbox/invoices/{invoice.id}/pay", json={}
        ).raise_for_status()
        httpx.post(f"{self.server.url}/sandbox/drain", json={}).raise_for_status()
        with self.sdk():
            events = starkbank.event.query(user=self.project)
            [event] = [
                e for e in events if e.log.type == "credited" and e.log.invoice.id == invoice.id
            ]
        return invoice.id, event.id


@pytest.fixture
def stranger(relay: Relay) -> Iterator[Stranger]:
    with stranger_of(relay) as found:
        yield found


@contextmanager
def stranger_of(relay: Relay) -> Iterator[Stranger]:
    """Another workspace's emulator (same signing key), with our webhook URL registered."""
    private_key, public_key = new_key_pair()
    settings = {**TEST_DEFAULTS, "pay_share": 0.0, "retry_schedule": (60.0,)}
    config = SandboxConfig(
        projects={"7777777777777777": public_key}, signing_key=SIGNING_KEY, workspace_id=THEIRS,
        **settings,
    )  # fmt: skip
    with SandboxServer(config) as server:
        project = starkbank.Project(
            environment="sandbox", id="7777777777777777", private_key=private_key
        )
        found = Stranger(server, project, relay.sb.url)
        assert relay.server is not None
        with found.sdk():
            starkbank.webhook.create(
                url=relay.server.webhook_url, subscriptions=["invoice"], user=project
            )
        yield found


def counter(metric: Any, *labels: str) -> float:
    return float((metric.labels(*labels) if labels else metric)._value.get())


async def test_strangers_signed_credited_event_moves_no_money_and_is_reported(
    relay: Relay, stranger: Stranger
) -> None:
    refused_before = counter(metrics.FORWARD_REFUSED, "not_credited")
    balance_before = starkbank.balance.get().amount
    invoice_id, event_id = stranger.pays_an_invoice(77_727)

    async with relay.services() as services:
        assert await stream_length(services) == 1  # genuinely signed: taken, not trusted
        await forward_all(relay.worker(services), services)
        ledger = await ledger_of(services, invoice_id)
        assert ledger["stage"] == "refused"
        assert ledger["refused_reason"] == "not_credited"
        assert ledger["refused_event_id"] == event_id
        assert ledger["claimed_workspace_id"] == THEIRS
        stages = await services.store.redis.hgetall(services.store.keys.ledger_stages())
        assert stages["refused"] == "1"
        counters = await services.store.redis.hgetall(services.store.keys.forward_counters())
        assert counters["items_refused"] == "1"
        assert await ownership_calls(services) == (1, 0)  # one read, no create
        assert await workspace.learned_workspace_id(services.store) is None
    assert list(starkbank.transfer.query()) == []
    assert starkbank.balance.get().amount == balance_before
    assert counter(metrics.FORWARD_REFUSED, "not_credited") == refused_before + 1


async def test_once_our_workspace_is_known_a_strangers_event_gets_403(
    relay: Relay, stranger: Stranger
) -> None:
    [ours] = credit_invoices(relay.sb, [5_000])  # our own credited event reaches the relay
    relay.sb.drain()
    other_workspace_before = counter(metrics.WEBHOOKS, "other_workspace")

    async with relay.services() as services:
        worker = relay.worker(services)
        await worker.workspace.learn_from_bank()  # as at start: our latest event says
        assert await workspace.learned_workspace_id(services.store) == OURS
        await forward_all(worker, services)
        length = await stream_length(services)
    assert [t.amount for t in forwards_of(ours)] == [4_950]
    theirs, _ = stranger.pays_an_invoice(88_888)

    async with relay.services() as services:
        assert await stream_length(services) == length  # refused before anything stored
        assert await ledger_of(services, theirs) == {}
    # the stranger's created, paid and credited events, each answered 403
    assert counter(metrics.WEBHOOKS, "other_workspace") == other_workspace_before + 3
    assert [t.external_id for t in starkbank.transfer.query()] == [f"invoice-{ours}"]


async def test_a_configured_workspace_refuses_a_strangers_event_from_the_first_request(
    redis_url: str, key_prefix: str
) -> None:
    """STARK_WORKSPACE_ID given (production requires it): on a fresh Redis, before anything
    is learned, a stranger's signed events are answered 403; a learned id never overrides it."""
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9}
    sandbox |= {"signing_key": SIGNING_KEY, "workspace_id": OURS}
    other_workspace_before = counter(metrics.WEBHOOKS, "other_workspace")
    with (
        relay_context(redis_url, key_prefix, sandbox=sandbox, stark_workspace_id=OURS) as relay,
        stranger_of(relay) as stranger,
    ):
        relay.register_webhook()
        theirs, _ = stranger.pays_an_invoice(66_666)
        # created, paid and credited: each answered 403 (a loaded machine may answer after
        # the emulator stopped waiting, so the count is awaited, not sampled)
        third = other_workspace_before + 3
        wait_for(lambda: counter(metrics.WEBHOOKS, "other_workspace") == third, what="3 refusals")

        async with relay.services() as services:
            assert await workspace.learned_workspace_id(services.store) is None
            assert await stream_length(services) == 0  # refused before anything stored
            assert await ledger_of(services, theirs) == {}
            await workspace.learn_workspace_id(services.store, THEIRS)
        again, _ = stranger.pays_an_invoice(55_555)  # with THEIRS learned: still refused
        [ours] = credit_invoices(relay.sb, [5_000])  # and ours still taken
        relay.sb.drain()
        sixth = other_workspace_before + 6
        wait_for(lambda: counter(metrics.WEBHOOKS, "other_workspace") == sixth, what="6 refusals")

        async with relay.services() as services:
            assert await ledger_of(services, again) == {}
            assert await stream_length(services) == 1
            assert (await ledger_of(services, ours))["stage"] == "queued"
        assert counter(metrics.WEBHOOKS, "other_workspace") == sixth  # and no more


async def test_workspace_is_learned_from_a_confirmed_event_and_a_wrong_setting_is_loud(
    redis_url: str, key_prefix: str
) -> None:
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9, "workspace_id": OURS}
    with relay_context(
        redis_url, key_prefix, serve=False, sandbox=sandbox, stark_workspace_id="3333333333333333"
    ) as relay:
        [invoice_id] = credit_invoices(relay.sb, [2_000])

        async with relay.services() as services:
            await enqueue_credited(services, invoice_id, 2_000, workspace_id=OURS)
            with capture_logs() as logs:
                await forward_all(relay.worker(services), services)
            assert await workspace.learned_workspace_id(services.store) == OURS
            [loud] = [e for e in logs if e["event"] == "forwarding.workspace.setting_mismatch"]
            assert loud["log_level"] == "error"
            assert (loud["stark_workspace_id"], loud["api_workspace_id"]) == (
                "3333333333333333", OURS,
            )  # fmt: skip
        assert len(forwards_of(invoice_id)) == 1


async def test_a_claim_larger_than_the_record_forwards_only_what_we_still_hold(
    quiet_relay: Relay,
) -> None:
    relay = quiet_relay
    [invoice_id] = credit_invoices(relay.sb, [10_000])
    starkbank.invoice.update(invoice_id, amount=4_000)  # partly reversed before the forward
    mismatches_before = counter(metrics.AMOUNT_MISMATCHES)

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 1_000_000, fee=0)
        await forward_all(relay.worker(services), services)
        ledger = await ledger_of(services, invoice_id)
        assert (ledger["stage"], ledger["amount"], ledger["fee"]) == ("sent", "3950", "50")
        assert (ledger["claimed_amount"], ledger["recorded_amount"]) == ("1000000", "3950")
        assert ledger["reversed_amount"] == "6000"
        counters = await services.store.redis.hgetall(services.store.keys.forward_counters())
        assert counters["cents_sent"] == "3950"
    [transfer] = forwards_of(invoice_id)
    assert transfer.amount == 4_000 - 50  # what our workspace still holds, not the claim
    assert counter(metrics.AMOUNT_MISMATCHES) == mismatches_before + 1


async def test_refusal_in_unfamiliar_wording_after_creating_still_gives_one_transfer(
    quiet_relay: Relay,
) -> None:
    relay = quiet_relay
    ids = credit_invoices(relay.sb, [1_000, 2_000, 3_000])

    async with relay.services() as services:
        for invoice_id, amount in zip(ids, (1_000, 2_000, 3_000), strict=True):
            await enqueue_credited(services, invoice_id, amount)
        worker = relay.worker(services)
        faults_after_ownership_read(worker, relay, transfer_refused_after_create_rate=1.0)
        assert await worker.step(block=False) is True  # settled by looking, not re-sent
        relay.sb.set_faults(transfer_refused_after_create_rate=0.0)
        assert await ownership_calls(services) == (1, 1)
        for invoice_id in ids:
            assert (await ledger_of(services, invoice_id))["stage"] in {"sent", "success"}
        assert await services.store.redis.xlen(services.store.keys.forward_dead_letters()) == 0
        await forward_all(relay.worker(services), services)
    assert [[t.amount for t in forwards_of(i)] for i in ids] == [[950], [1_950], [2_950]]


async def test_worker_killed_between_the_ownership_read_and_the_create(quiet_relay: Relay) -> None:
    relay = quiet_relay
    ids = credit_invoices(relay.sb, [1_000, 1_000])

    async with relay.services() as services:
        for invoice_id in ids:
            await enqueue_credited(services, invoice_id, 1_000)
        doomed = relay.worker(services, "host-a-forwarder", cls=DiesBeforeCreate)
        with pytest.raises(Killed):
            await doomed.step(block=False)
        assert forwards_of(ids[0]) == []
        await asyncio.sleep(0.25)  # past FORWARD_CLAIM_IDLE_SECONDS
        await forward_all(relay.worker(services, "host-b-forwarder"), services)
        assert await ownership_calls(services) == (2, 1)  # read again, then one create
    assert [len(forwards_of(i)) for i in ids] == [1, 1]


async def test_same_attempt_enqueued_twice_gives_one_transfer(quiet_relay: Relay) -> None:
    relay = quiet_relay
    [invoice_id] = credit_invoices(relay.sb, [1_000])

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 1_000)
        stream = services.store.keys.forward_stream()
        [(_, fields)] = await services.store.redis.xrange(stream)
        await services.store.redis.xadd(stream, fields)  # the same attempt once more
        await forward_all(relay.worker(services), services)
        assert await services.store.redis.xlen(services.store.keys.forward_dead_letters()) == 0
        assert (await ledger_of(services, invoice_id))["stage"] in {"sent", "success"}
    assert len(forwards_of(invoice_id)) == 1


@pytest.mark.parametrize("fault", ["api_latency", "api_lost_response_rate"])
async def test_ownership_read_timed_out_or_lost_sends_nothing_then_once(
    redis_url: str, key_prefix: str, fault: str
) -> None:
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9}
    with relay_context(
        redis_url, key_prefix, serve=False, sandbox=sandbox, bank_timeout_seconds=0.2
    ) as relay:
        [invoice_id] = credit_invoices(relay.sb, [3_000])

        async with relay.services() as services:
            await enqueue_credited(services, invoice_id, 3_000)
            worker = relay.worker(services)
            relay.sb.set_faults(**{fault: 0.4 if fault == "api_latency" else 1.0})
            assert await worker.step(block=False) is None  # the read got no answer
            relay.sb.set_faults(**{fault: 0.0})
            assert forwards_of(invoice_id) == []
            ledger = await ledger_of(services, invoice_id)
            assert ledger["stage"] == "queued"
            assert "credited_logs" in ledger["last_error"]
            await forward_all(worker, services)
        assert [t.amount for t in forwards_of(invoice_id)] == [2_950]


async def test_a_batch_mixing_ours_and_unknown_invoices_costs_one_read(quiet_relay: Relay) -> None:
    relay = quiet_relay
    ours = credit_invoices(relay.sb, [1_000, 2_000])
    unknown = ["4000000000000001", "4000000000000002"]

    async with relay.services() as services:
        for invoice_id in [ours[0], *unknown, ours[1]]:
            await enqueue_credited(services, invoice_id, 1_000, event_id=f"ev{invoice_id}")
        await forward_all(relay.worker(services), services)
        assert await ownership_calls(services) == (1, 1)
        for invoice_id in unknown:
            ledger = await ledger_of(services, invoice_id)
            assert (ledger["stage"], ledger["refused_event_id"]) == (
                "refused",
                f"ev{invoice_id}",
            )
        again = await ledger_of(services, ours[1])
        assert (again["stage"], again["amount"], again["claimed_amount"]) == (
            "sent",
            "1950",
            "950",
        )
    assert [[t.amount for t in forwards_of(i)] for i in ours] == [[950], [1_950]]
    assert len(list(starkbank.transfer.query())) == 2


async def test_a_credit_of_ours_the_read_missed_is_reopened_by_reconciliation_once(
    quiet_relay: Relay,
) -> None:
    """The ownership read answers without our credit (a log not yet visible): the worker
    refuses; reconciliation, listing our own credited logs, reopens the same attempt once."""
    relay = quiet_relay
    [invoice_id] = credit_invoices(relay.sb, [4_000])
    since = (datetime.now(UTC) - timedelta(days=1)).date()

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 4_000)
        real_read = services.bank.credited_logs
        missed: list[str] = []

        async def read_missing_it(invoice_ids: Any) -> Any:
            missed.extend(invoice_ids)
            return []

        services.bank.credited_logs = read_missing_it  # type: ignore[method-assign]
        await forward_all(relay.worker(services), services)
        services.bank.credited_logs = real_read  # type: ignore[method-assign]
        assert missed == [invoice_id]
        assert (await ledger_of(services, invoice_id))["stage"] == "refused"
        assert forwards_of(invoice_id) == []

        first = await run_reconciliation(services, since=since)
        second = await run_reconciliation(services, since=since)  # before the worker runs
        assert (first.refused_reopened, second.refused_reopened) == (1, 0)
        await forward_all(relay.worker(services), services)
        ledger = await ledger_of(services, invoice_id)
        assert ledger["stage"] in {"sent", "success"}
        assert ledger["reopens"] == "1"
        stages = await services.store.redis.hgetall(services.store.keys.ledger_stages())
        assert stages.get("refused") == "0"
        third = await run_reconciliation(services, since=since)
        assert third.refused_reopened == 0
    assert [t.amount for t in forwards_of(invoice_id)] == [3_950]
