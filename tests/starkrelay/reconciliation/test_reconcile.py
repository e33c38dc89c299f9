"""Reconciliation against the emulator: dropped webhooks, failed forwards, the money report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import starkbank
from relay_harness import Relay, create_invoice, forward_all, forwards_of, relay_context

from starkrelay.reconciliation.report import MoneyReport, load_report
from starkrelay.wiring import run_reconciliation

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()


def reconcile_and_forward(relay: Relay) -> MoneyReport:
    async def body() -> MoneyReport:
        async with relay.services() as services:
            report = await run_reconciliation(services, since=YESTERDAY)
            await forward_all(relay.worker(services), services)
            return report

    return relay.run(body)


def forward(relay: Relay) -> None:
    async def body() -> None:
        async with relay.services() as services:
            await forward_all(relay.worker(services), services)

    relay.run(body)


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


def test_dropped_webhooks_are_found_forwarded_and_marked_delivered(dropping_relay: Relay) -> None:
    relay = dropping_relay
    invoices = [create_invoice(3_000 + n) for n in range(3)]
    for invoice in invoices:
        relay.sb.pay_invoice(invoice.id)
    assert len(undelivered()) >= 9  # created, paid, credited for each

    report = reconcile_and_forward(relay)
    assert report.events_marked_delivered >= 9
    for n, invoice in enumerate(invoices):
        [transfer] = forwards_of(invoice.id)
        assert transfer.amount == 3_000 + n - 50
    # the transfers' own events were dropped too; the next sweep takes and marks them
    relay.sb.wait_until(
        lambda: all(f.status == "success" for i in invoices for f in forwards_of(i.id))
    )
    second = reconcile_and_forward(relay)
    assert undelivered() == []
    assert second.forwarded == sum(3_000 + n - 50 for n in range(3))
    assert second.disagreements == []
    assert second.enqueued_missing == 0
    for invoice in invoices:
        assert len(forwards_of(invoice.id)) == 1


def test_credited_invoice_without_any_event_is_enqueued(redis_url: str, key_prefix: str) -> None:
    with relay_context(redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0}) as relay:
        invoice = create_invoice(4_000)
        relay.sb.pay_invoice(invoice.id)
        for event in undelivered():  # events lost for good (e.g. deleted by someone)
            starkbank.event.delete(event.id)
        report = reconcile_and_forward(relay)
        assert report.enqueued_missing == 1
        assert [t.amount for t in forwards_of(invoice.id)] == [3_950]


def test_invalidbalance_then_resent_after_a_top_up(redis_url: str, key_prefix: str) -> None:
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0, "initial_balance": -3_950}
    ) as relay:
        relay.register_webhook()
        invoice = create_invoice(4_000)
        relay.sb.pay_invoice(invoice.id)  # credits 3,950: the balance is now 0
        relay.sb.drain()
        forward(relay)
        relay.sb.wait_until(lambda: forwards_of(invoice.id)[0].status == "failed")

        assert relay.sb.deposit(3_950) == 3_950  # a top-up arrives from outside
        report = reconcile_and_forward(relay)
        assert report.resent == 1
        relay.sb.wait_until(lambda: any(t.status == "success" for t in forwards_of(invoice.id)))
        attempts = {t.external_id: t.status for t in forwards_of(invoice.id)}
        assert attempts == {
            f"invoice-{invoice.id}": "failed",
            f"invoice-{invoice.id}-r1": "success",
        }

        relay.sb.drain()
        final = reconcile_and_forward(relay)
        assert final.resent == 0
        assert final.forwarded == 3_950
        assert final.failed == 0
        assert final.disagreements == []
        assert len(forwards_of(invoice.id)) == 2

        async def stored() -> MoneyReport | None:
            async with relay.services() as services:
                return await load_report(services.redis, services.keys)

        saved = relay.run(stored)
        assert saved is not None
        assert saved.forwarded == 3_950


def test_resends_stop_at_the_bound(redis_url: str, key_prefix: str) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"pay_share": 0.0, "initial_balance": -10**6}, forward_max_resends=1,
    ) as relay:  # fmt: skip
        invoice = create_invoice(2_000)
        relay.sb.pay_invoice(invoice.id)
        for _ in range(3):
            reconcile_and_forward(relay)
            relay.sb.wait_until(lambda: all(t.status == "failed" for t in forwards_of(invoice.id)))
        ids = sorted(t.external_id for t in forwards_of(invoice.id))
        assert ids == [f"invoice-{invoice.id}", f"invoice-{invoice.id}-r1"]
        report = reconcile_and_forward(relay)
        assert report.failed == 1_950
        assert report.forwarded == 0


def test_cli_reconcile_prints_the_money_report(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from starkrelay.cli import app

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
        result = CliRunner().invoke(app, ["reconcile", "--since", since], env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        assert f"Money report since {since}" in result.output
        assert "credits enqueued by this run" in result.output
        assert "Every credited invoice adds up." in result.output
        forward(relay)
        assert [t.amount for t in forwards_of(invoice.id)] == [2_450]
