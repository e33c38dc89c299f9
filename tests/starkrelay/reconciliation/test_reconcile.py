"""Reconciliation against the emulator: dropped webhooks, failed forwards, the money report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import starkbank
from tests.support.cli import invoke
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    forward_all,
    forwards_of,
    relay_context,
)

from starkrelay.api.wiring import run_reconciliation
from starkrelay.ledger import reads
from starkrelay.reconciliation.report import MoneyReport
from starkrelay.reconciliation.service import load_adhoc_report

pytestmark = pytest.mark.anyio

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()


async def reconcile_and_forward(relay: Relay) -> MoneyReport:
    async with relay.services() as services:
        report = await run_reconciliation(services, since=YESTERDAY)
        await forward_all(relay.worker(services), services)
        return report


async def forward(relay: Relay) -> None:
    async with relay.services() as services:
        await forward_all(relay.worker(services), services)


def undelivered() -> list[Any]:
    return list(starkbank.event.query(is_delivered=False))


@pytest.fixture
def dropping_relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """Every webhook delivery is dropped by the emulator."""
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0, "faults": {"webhook_drop_rate": 1.0}}
    ) as relay:
        relay.register_webhook()
        yield relay


async def test_dropped_webhooks_are_found_forwarded_and_marked_delivered(
    dropping_relay: Relay,
) -> None:
    relay = dropping_relay
    invoices = [create_invoice(3_000 + n) for n in range(3)]
    for invoice in invoices:
        relay.sb.pay_invoice(invoice.id)
    assert len(undelivered()) >= 9  # created, paid, credited for each

    report = await reconcile_and_forward(relay)
    assert report.events_marked_delivered >= 9
    for n, invoice in enumerate(invoices):
        [transfer] = forwards_of(invoice.id)
        assert transfer.amount == 3_000 + n - 50
    # the transfers' own events were dropped too; the next sweep takes and marks them
    relay.sb.wait_until(
        lambda: all(f.status == "success" for i in invoices for f in forwards_of(i.id))
    )
    second = await reconcile_and_forward(relay)
    assert undelivered() == []
    assert second.forwarded == sum(3_000 + n - 50 for n in range(3))
    assert second.disagreements == []
    assert second.enqueued_missing == 0
    for invoice in invoices:
        assert len(forwards_of(invoice.id)) == 1


async def test_credited_invoice_without_any_event_is_enqueued(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0}) as relay:
        invoice = create_invoice(4_000)
        relay.sb.pay_invoice(invoice.id)
        for event in undelivered():  # events lost for good (e.g. deleted by someone)
            starkbank.event.delete(event.id)
        report = await reconcile_and_forward(relay)
        assert report.enqueued_missing == 1
        assert [t.amount for t in forwards_of(invoice.id)] == [3_950]


async def test_a_balance_failure_whose_events_were_lost_waits_instead_of_resending(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0, "initial_balance": -3_950}
    ) as relay:
        invoice = create_invoice(4_000)
        relay.sb.pay_invoice(invoice.id)  # credits 3,950: the balance is now 0
        await reconcile_and_forward(relay)  # attempt 0 is created, then fails: invalidbalance
        relay.sb.wait_until(lambda: forwards_of(invoice.id)[0].status == "failed")
        for event in undelivered():  # no webhook ever told us (none registered)
            starkbank.event.delete(event.id)

        report = await reconcile_and_forward(relay)
        assert (report.resent, report.parked_for_balance) == (0, 1)
        assert (report.waiting, report.failed, report.disagreements) == (3_950, 0, [])
        assert len(forwards_of(invoice.id)) == 1  # nothing re-sent into an empty balance
        again = await reconcile_and_forward(relay)
        assert (again.resent, again.parked_for_balance, again.waiting) == (0, 0, 3_950)

        async with relay.services() as services:
            ledger = await services.store.redis.hgetall(
                services.store.keys.webhook_ledger(invoice.id)
            )
            saved, ledger = await load_adhoc_report(services.store), dict(ledger)
        assert saved is not None
        assert saved.waiting == 3_950
        assert (ledger["stage"], ledger["attempt"]) == ("waiting", "0")

        async with relay.services() as services:
            record = services.store.keys.webhook_ledger(invoice.id)
            await services.store.redis.hdel(record, "amount", "gross_amount", "fee")
            assert await reads.list_waiting(services.store) == []
            await run_reconciliation(services, since=YESTERDAY)
            [waiter] = await reads.list_waiting(services.store)
        assert (waiter.invoice_id, waiter.amount, waiter.gross_amount, waiter.fee) == (
            invoice.id, 3_950, 4_000, 50,
        )  # fmt: skip


async def test_resends_stop_at_the_bound(redis_url: str, key_prefix: str) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False, forward_max_resends=1,
        sandbox={"pay_share": 0.0, "faults": {"transfer_fail_rate": 1.0}},
    ) as relay:  # fmt: skip
        invoice = create_invoice(2_000)
        relay.sb.pay_invoice(invoice.id)
        for _ in range(3):
            await reconcile_and_forward(relay)
            relay.sb.wait_until(lambda: all(t.status == "failed" for t in forwards_of(invoice.id)))
        ids = sorted(t.external_id for t in forwards_of(invoice.id))
        assert ids == [f"invoice-{invoice.id}", f"invoice-{invoice.id}-r1"]
        report = await reconcile_and_forward(relay)
        assert report.failed == 1_950
        assert report.forwarded == 0


async def test_cli_reconcile_prints_the_money_report(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with relay_context(redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0}) as relay:
        invoice = create_invoice(2_500)
        relay.sb.pay_invoice(invoice.id)
        env = {
            "STARK_PROJECT_ID": relay.sb.project_id,
            "STARK_PRIVATE_KEY": relay.sb.private_key,
            "STARK_API_URL": relay.sb.url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix,
            "LOG_LEVEL": "ERROR",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        since = YESTERDAY.isoformat()
        result = await invoke(["reconcile", "--since", since], env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        assert f"Money report since {since}" in result.output
        assert "credits enqueued by this run" in result.output
        assert "Every credited invoice adds up." in result.output
        await forward(relay)
        assert [t.amount for t in forwards_of(invoice.id)] == [2_450]


async def test_transfers_the_receiving_bank_refuses_end_with_exactly_one_success(
    redis_url: str, key_prefix: str
) -> None:
    sandbox = {"pay_share": 0.0, "seed": 7, "faults": {"transfer_fail_rate": 0.5}}
    with relay_context(redis_url, key_prefix, sandbox=sandbox, forward_max_resends=10) as relay:
        relay.register_webhook()
        invoices = [create_invoice(2_000 + n) for n in range(8)]
        for invoice in invoices:
            relay.sb.pay_invoice(invoice.id)
        relay.sb.drain()
        await forward(relay)
        nets = sum(2_000 + n - 50 for n in range(8))

        def settled() -> bool:
            statuses = {t.status for t in starkbank.transfer.query()}
            return statuses <= {"success", "failed"}

        report = None
        for _ in range(12):  # each round re-sends what the receiving bank refused
            relay.sb.wait_until(settled)
            relay.sb.drain()
            report = await reconcile_and_forward(relay)
            if report.forwarded == nets and report.resent == 0:
                break
        assert report is not None
        assert (report.forwarded, report.failed, report.waiting) == (nets, 0, 0)
        assert report.disagreements == []
        assert report.unexplained == []
        refused = list(starkbank.transfer.log.query(types=["failed"]))
        assert refused, "the fault never fired: the re-send path was not exercised"
        assert all(log.errors == ["receiverRefused"] for log in refused)
        for invoice in invoices:
            forwards = forwards_of(invoice.id)
            assert [t.status for t in forwards].count("success") == 1
            assert len(forwards) == 1 + sum(t.status == "failed" for t in forwards)
