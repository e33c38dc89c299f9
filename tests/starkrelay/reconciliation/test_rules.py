"""Re-send and report rules, on plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from starkrelay.bank import Transfer
from starkrelay.forwarding.attempts import attempt_state, forward_attempts, unique_transfers
from starkrelay.reconciliation.report import CreditedInvoice, judge_invoice, new_report
from starkrelay.reconciliation.sweep import next_attempt

pytestmark = pytest.mark.anyio


def transfer(attempt: int, status: str, amount: int = 950) -> Transfer:
    external = "invoice-1" if attempt == 0 else f"invoice-1-r{attempt}"
    return Transfer(
        id=f"t{attempt}", amount=amount, name="n", tax_id="x", bank_code="20018183",
        branch_code="0001", account_number="1", account_type="payment", external_id=external,
        status=status, fee=0, tags=("invoice:1",), created=datetime.now(UTC), updated=None,
    )  # fmt: skip


def test_no_resend_while_an_attempt_could_still_succeed() -> None:
    for status in ("created", "processing", "success"):
        assert next_attempt({0: [transfer(0, "failed")], 1: [transfer(1, status)]}, 5) is None
    assert next_attempt({}, 5) is None


def test_resend_follows_the_latest_failed_attempt_up_to_the_bound() -> None:
    assert next_attempt({0: [transfer(0, "failed")]}, 2) == 1
    assert next_attempt({0: [transfer(0, "failed")], 1: [transfer(1, "canceled")]}, 2) == 2
    assert next_attempt({0: [transfer(0, "failed")], 1: [transfer(1, "failed")]}, 1) is None
    assert next_attempt({0: [transfer(0, "failed")]}, 0) is None


def test_an_attempt_with_any_success_is_settled_whatever_the_listing_order() -> None:
    success, failed = transfer(0, "success"), transfer(0, "failed")
    for listing in ([success, failed], [failed, success]):
        grouped = forward_attempts(listing)["1"]
        assert attempt_state(grouped[0]) == "settled"
        assert next_attempt(grouped, 5) is None
        report = new_report(datetime.now(UTC).date())
        judge_invoice(report, CreditedInvoice("1", 1_000, 50), listing, {"stage": "failed"})
        assert (report.forwarded, report.failed, report.disagreements) == (950, 0, [])
    assert unique_transfers([success, replace(success, status="processing")]) == [success]
    assert unique_transfers([replace(success, status="processing"), success]) == [success]
    live = forward_attempts([transfer(0, "failed"), transfer(0, "processing")])["1"]
    assert attempt_state(live[0]) == "live"
    assert next_attempt(live, 5) is None


def test_report_flags_double_and_wrong_forwards() -> None:
    report = new_report(datetime.now(UTC).date())
    invoice = CreditedInvoice("1", 1_000, 50)
    judge_invoice(report, invoice, [transfer(0, "success"), transfer(1, "success")], {})
    judge_invoice(report, invoice, [transfer(0, "success", amount=900)], {})
    judge_invoice(report, invoice, [], {})
    judge_invoice(report, invoice, [], {"stage": "dead"})
    judge_invoice(report, invoice, [transfer(0, "failed")], {"stage": "queued", "attempt": "1"})
    problems = [row["problem"] for row in report.disagreements]
    assert problems == [
        "more than one successful forward",
        "forwarded amount differs from net",
        "credited but no forward transfer and no record of one",
    ]
    assert report.dead_lettered == 950
    assert report.in_flight == 950
    assert report.net == 5 * 950


def test_daily_job_fires_at_01_00_sao_paulo(redis_url: str, key_prefix: str) -> None:
    from zoneinfo import ZoneInfo

    from tests.support.relay_harness import relay_context

    from starkrelay.api.wiring import run_reconciliation
    from starkrelay.reconciliation.service import DailyReconciliation

    with relay_context(redis_url, key_prefix, serve=False) as relay:

        async def body() -> tuple[datetime, float]:
            async with relay.services() as services:
                daily = DailyReconciliation(services.settings, lambda: run_reconciliation(services))
                wait = daily.seconds_to_next()
                return daily.due, wait

        fire, wait = relay.run(body)
    local = fire.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert (local.hour, local.minute) == (1, 0)
    assert fire.utcoffset() is not None
    assert 0 < wait <= 24 * 3600
