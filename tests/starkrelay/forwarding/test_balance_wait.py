"""Forwards that wait for the balance: against Redis and the emulator through the SDK.

A forward Stark Bank cannot cover (its transfer fails with ``invalidbalance``, or its create
is refused with ``invalidBalance``) waits in the ledger stage ``waiting``, is never
dead-lettered, and is sent exactly once after a deposit covers it: around the re-send, two
balance checks racing, a crash after the enqueue and a lost response still give one transfer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import starkbank
from tests.support.relay_harness import (
    DiesAfterCreate,
    Killed,
    Relay,
    await_for,
    credit_invoices,
    faults_after_ownership_read,
    forward_all,
    forwards_of,
    ledger_of,
    relay_context,
)

from starkrelay.api.deps import Services
from starkrelay.api.scrape import render_metrics
from starkrelay.api.status import status_body
from starkrelay.api.wiring import balance_waiter, run_reconciliation
from starkrelay.app import BACKGROUND
from starkrelay.bank import BankGateway, BankInputError, NewTransfer, ProviderError, Transfer
from starkrelay.forwarding.balance_wait import checked_pass, release_covered
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.ledger import reads
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

pytestmark = pytest.mark.anyio

FEE = 30
NET = 1_950  # invoices of 2,000 minus the invoice fee of 50


async def dead_letters(services: Services) -> int:
    return int(await services.store.redis.xlen(services.store.keys.forward_dead_letters()))


def successes(invoice_id: str) -> list[Any]:
    return [t for t in forwards_of(invoice_id) if t.status == "success"]


# --- a transfer that fails with invalidbalance ---------------------------------------------


@pytest.fixture
def short_relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """Webhooks on; a transfer fee; a balance that three credits leave at exactly zero."""
    sandbox = {"pay_share": 0.0, "transfer_fee": FEE, "initial_balance": -3 * NET}
    with relay_context(
        redis_url, key_prefix, sandbox=sandbox, forward_balance_check_seconds=0.05
    ) as relay:
        relay.register_webhook()
        yield relay


async def _three_failed_forwards(relay: Relay) -> list[str]:
    invoices = [
        starkbank.invoice.create([starkbank.Invoice(amount=2_000, name="Ana", tax_id=tax)])[0].id
        for tax in ("012.345.678-90", "529.982.247-25", "11.222.333/0001-81")
    ]
    for invoice_id in invoices:
        relay.sb.pay_invoice(invoice_id)
    relay.sb.drain()

    async with relay.services() as services:
        await forward_all(relay.worker(services), services)

        async def all_waiting() -> bool:
            stages = [(await ledger_of(services, i)).get("stage") for i in invoices]
            return stages == ["waiting"] * 3

        await await_for(all_waiting, what="three forwards waiting")
    return invoices


async def test_short_balance_waits_then_a_deposit_sends_each_exactly_once(
    short_relay: Relay,
) -> None:
    relay = short_relay
    invoices = await _three_failed_forwards(relay)
    assert all(
        [t.status for t in forwards_of(i)] == ["failed"] for i in invoices
    )  # attempt 0 of each failed: invalidbalance

    async with relay.services() as services:
        first = await checked_pass(services.store, services.bank)
        assert first is not None
        assert (first.balance, first.released, first.still_waiting) == (0, 0, 3)
        assert first.needed_next == NET + FEE
        assert first.fee_estimate == FEE  # the fee Stark Bank charged on the failed attempts
        assert await dead_letters(services) == 0
        exposition = await render_metrics(services.store, services.settings)
        scraped = exposition.decode().splitlines()
        assert "starkrelay_forward_waiting_for_balance 3.0" in scraped
        assert 'starkrelay_forward_invoices{stage="waiting"} 3.0' in scraped
        [oldest] = [x for x in scraped if x.startswith("starkrelay_forward_waiting_oldest_")]
        assert float(oldest.split()[1]) > 0  # the first of them has waited since its failure
        body = await status_body(services.store)
    assert body["invoices_by_stage"]["waiting"] == 3
    assert body["waiting_for_balance"]["invoices"] == 3
    assert body["waiting_for_balance"]["cents"] == 3 * NET
    assert body["waiting_for_balance"]["last_check"]["needed_next"] == str(NET + FEE)
    assert body["forwarding"]["items_dead"] == 0

    relay.sb.deposit(2 * (NET + FEE))  # covers the two oldest, not the third

    async with relay.services() as services:
        oldest = [w.invoice_id for w in await reads.list_waiting(services.store)]
        async with balance_waiter(services):  # the background part, checking every 50 ms

            async def two_left_waiting() -> bool:
                return await reads.waiting_count(services.store) == 1

            await await_for(two_left_waiting, what="two forwards released")
        await forward_all(relay.worker(services), services)
        released = oldest[:2]
    relay.sb.wait_until(lambda: all(successes(i) for i in released))
    [last] = set(invoices) - set(released)
    assert successes(last) == []

    relay.sb.deposit(NET + FEE)

    async with relay.services() as services:
        result = await checked_pass(services.store, services.bank)
        assert result is not None
        assert result.released == 1
        await forward_all(relay.worker(services), services)
        assert await checked_pass(services.store, services.bank) is None  # nothing waits any more
    relay.sb.wait_until(lambda: successes(last) != [])
    relay.sb.drain()
    for invoice_id in invoices:
        attempts = {t.external_id: t.status for t in forwards_of(invoice_id)}
        assert attempts == {
            f"invoice-{invoice_id}": "failed",
            f"invoice-{invoice_id}-r1": "success",
        }
    assert starkbank.balance.get().amount == 0

    async with relay.services() as services:
        report = await run_reconciliation(services)
        ledger = await ledger_of(services, last)
        assert (ledger["stage"], ledger["attempt"], ledger["balance_resends"]) == (
            "success",
            "1",
            "1",
        )
    assert (report.forwarded, report.waiting, report.failed, report.resent) == (3 * NET, 0, 0, 0)
    assert report.disagreements == []
    assert report.unexplained == []


def test_balance_waiter_is_a_background_part() -> None:
    assert balance_waiter in BACKGROUND


# --- a create refused with invalidBalance ----------------------------------------------------


class RefusingBank(BankGateway):
    """Refuses a create with ``invalidBalance`` (position named) while the emulator's
    balance cannot cover the whole batch, as Stark Bank may at create."""

    async def create_transfers(self, transfers: list[NewTransfer]) -> list[Transfer]:
        balance = (await self.get_balance()).amount
        if balance < sum(t.amount + FEE for t in transfers):
            raise BankInputError(
                "create_transfers",
                [
                    ProviderError("invalidBalance", f"Element {n}: insufficient balance")
                    for n in range(len(transfers))
                ],
            )
        return await super().create_transfers(transfers)


@pytest.fixture
def refusing_relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    sandbox = {"pay_share": 0.0, "transfer_fee": FEE, "initial_balance": 0}
    with relay_context(redis_url, key_prefix, serve=False, sandbox=sandbox) as relay:
        yield relay


async def _enqueue(services: Services, invoice_ids: list[str]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    for invoice_id in invoice_ids:
        event = parse_event(
            {
                "id": f"e{invoice_id}", "created": now, "subscription": "invoice",
                "log": {"id": f"l{invoice_id}", "created": now, "type": "credited",
                        "invoice": {"id": invoice_id, "amount": 2_000, "fee": 50}},
            }
        )  # fmt: skip
        policy = IntakePolicy(replay_window_seconds=3600)
        assert await take_event(services.store, event, policy) is Outcome.ENQUEUED


async def _refused_into_waiting(relay: Relay, invoice_ids: list[str]) -> None:
    async with relay.services() as services:
        await _enqueue(services, invoice_ids)
        services.bank = RefusingBank(relay.settings, policy=services.bank.policy)
        await forward_all(relay.worker(services), services)  # acked: the stream drains
        for invoice_id in invoice_ids:
            ledger = await ledger_of(services, invoice_id)
            assert (ledger["stage"], ledger["attempt"]) == ("waiting", "0")
            assert "invalidBalance" in ledger["waiting_reason"]
        assert await dead_letters(services) == 0
    assert all(forwards_of(i) == [] for i in invoice_ids)


async def test_a_refused_create_waits_and_is_sent_as_the_same_attempt(
    refusing_relay: Relay,
) -> None:
    relay = refusing_relay
    ids = credit_invoices(relay.sb, [2_000, 2_000])
    await _refused_into_waiting(relay, ids)
    relay.sb.deposit(2 * (NET + FEE))

    async with relay.services() as services:
        result = await checked_pass(services.store, services.bank)
        assert result is not None
        assert result.released == 2
        await forward_all(relay.worker(services), services)
    for invoice_id in ids:  # never used, so the same external id: no -r1 needed
        assert [t.external_id for t in forwards_of(invoice_id)] == [f"invoice-{invoice_id}"]


async def test_two_balance_checks_racing_release_each_forward_once(refusing_relay: Relay) -> None:
    relay = refusing_relay
    ids = credit_invoices(relay.sb, [2_000] * 6)
    await _refused_into_waiting(relay, ids)
    relay.sb.deposit(6 * (NET + FEE))

    async with relay.services() as one, relay.services() as two:
        passes = await asyncio.gather(
            release_covered(one.store, one.bank),
            release_covered(two.store, two.bank),
        )
        assert sum(p.released for p in passes) == 6
        assert (await stream_state(one.store)).depth == 6  # one entry each
        await forward_all(relay.worker(one), one)
    for invoice_id in ids:
        assert [t.status for t in forwards_of(invoice_id)] != []
        assert len(forwards_of(invoice_id)) == 1


async def test_crash_after_the_re_send_was_created_gives_one_transfer(short_relay: Relay) -> None:
    relay = short_relay
    invoices = await _three_failed_forwards(relay)
    relay.sb.deposit(3 * (NET + FEE))

    async with relay.services() as services:
        assert (await checked_pass(services.store, services.bank)).released == 3  # type: ignore[union-attr]
        crashing = relay.worker(services, "crashing-worker", cls=DiesAfterCreate)
        with pytest.raises(Killed):
            await crashing.step(block=False)
        assert (
            await checked_pass(services.store, services.bank) is None
        )  # queued, not waiting: nothing again
        await asyncio.sleep(0.25)  # past FORWARD_CLAIM_IDLE_SECONDS: another worker claims
        await forward_all(relay.worker(services, "survivor"), services)
    relay.sb.wait_until(lambda: all(successes(i) for i in invoices))
    for invoice_id in invoices:
        assert sorted(t.external_id for t in forwards_of(invoice_id)) == [
            f"invoice-{invoice_id}",
            f"invoice-{invoice_id}-r1",
        ]


async def test_lost_response_on_the_re_send_gives_one_transfer(short_relay: Relay) -> None:
    relay = short_relay
    invoices = await _three_failed_forwards(relay)
    relay.sb.deposit(3 * (NET + FEE))

    async with relay.services() as services:
        assert (await checked_pass(services.store, services.bank)).released == 3  # type: ignore[union-attr]
        worker = relay.worker(services)
        faults_after_ownership_read(worker, relay, api_lost_response_rate=1.0)
        assert await worker.step(block=False) is None  # created, but the answer was lost
        relay.sb.set_faults(api_lost_response_rate=0.0)
        assert sum(len(forwards_of(i)) for i in invoices) == 6  # the re-sends exist
        # refused as duplicates, confirmed by tag
        await forward_all(relay.worker(services), services)
    relay.sb.wait_until(lambda: all(successes(i) for i in invoices))
    for invoice_id in invoices:
        assert len(forwards_of(invoice_id)) == 2
        assert len(successes(invoice_id)) == 1
