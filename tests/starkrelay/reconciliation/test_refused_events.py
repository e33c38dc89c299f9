"""Reconciliation skips, records and reports an undelivered event it cannot take."""

from __future__ import annotations

import pytest
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    forward_all,
    forwards_of,
    relay_api,
    relay_context,
)

from starkrelay.api.wiring import run_reconciliation
from starkrelay.reconciliation.report import MoneyReport, load_report

pytestmark = pytest.mark.anyio


async def test_unreadable_events_are_skipped_listed_and_left_undelivered(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0, "faults": {"webhook_drop_rate": 1.0}}
    ) as relay:
        relay.register_webhook()
        broken, fine = create_invoice(4_000), create_invoice(5_000)
        for invoice in (broken, fine):
            relay.sb.pay_invoice(invoice.id)
        events = relay.sb.server.sandbox.ws.events.items  # type: ignore[union-attr]
        mine = [e for e in events if e.log.get("invoice", {}).get("id") == broken.id]
        credited = next(e for e in mine if e.log["type"] == "credited")
        paid = next(e for e in mine if e.log["type"] == "paid")
        credited.log = credited.log | {"type": "credited\ud800"}  # a lone surrogate
        paid.log = paid.log | {"created": "2026-01-01T10:00:00"}  # no time zone

        report = await reconcile_and_forward(relay)

        refused = {entry["event_id"]: entry["reason"] for entry in report.events_refused}
        assert set(refused) == {credited.id, paid.id}
        assert "log.type" in refused[credited.id]
        assert "log.created" in refused[paid.id]
        assert [t.amount for t in forwards_of(fine.id)] == [5_000 - 50]
        assert not credited.is_delivered
        assert not paid.is_delivered
        others = [e for e in events if "invoice" in e.log and e.id not in {credited.id, paid.id}]
        assert others
        assert all(e.is_delivered for e in others)

        async with relay.services() as services:
            kept = await load_report(services.store)
        assert kept is not None
        assert len(kept.events_refused) == 2
        assert relay.server is not None
        scraped = (await relay_api(relay, "GET", "/metrics")).text.splitlines()  # read from Redis
        assert "starkrelay_reconcile_events_refused 2.0" in scraped

        again = await reconcile_and_forward(relay)  # still undelivered: found and counted again
        assert {entry["event_id"] for entry in again.events_refused} == set(refused)


async def reconcile_and_forward(relay: Relay) -> MoneyReport:
    async with relay.services() as services:
        report = await run_reconciliation(services)  # the daily report: the gauges read it
        await forward_all(relay.worker(services), services)
        return report
