"""Unexplained outflow: money sent to the destination that no credited invoice of ours explains.

Against Redis and the emulator through the SDK: transfers planted next to a correct forward
are found by reconciliation, shown by ``reconcile`` (exit status 3), ``/api/v1/status`` and
the metrics; a credit older than the report's window still explains its forward.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import starkbank
from tests.support.relay_harness import (
    ADMIN_TOKEN,
    Relay,
    create_invoice,
    forward_all,
    relay_api,
    relay_context,
)

from starkrelay.api.wiring import run_reconciliation
from starkrelay.bank import BankGateway, Transfer
from starkrelay.forwarding.transfers import Destination
from starkrelay.reconciliation.outflow import judge_outflow, unexplained_outflow
from starkrelay.reconciliation.report import MoneyReport

pytestmark = pytest.mark.anyio

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
DESTINATION = {
    "name": "Stark Bank S.A.", "tax_id": "20.018.183/0001-80", "bank_code": "20018183",
    "branch_code": "0001", "account_number": "6341320293482496", "account_type": "payment",
}  # fmt: skip


def send(amount: int, external_id: str, tags: list[str], **account: str) -> None:
    fields = DESTINATION | account
    starkbank.transfer.create(
        [starkbank.Transfer(amount=amount, external_id=external_id, tags=tags, **fields)]
    )


async def reconcile(relay: Relay) -> MoneyReport:
    async with relay.services() as services:
        report = await run_reconciliation(services)  # daily: the gauges and status read it
        await forward_all(relay.worker(services), services)
        return report


async def test_planted_outflow_is_found_and_explained_forwards_are_not(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0, "initial_balance": 10**6}
    ) as relay:
        good, twice, over = (create_invoice(5_000 + n) for n in range(3))
        stranger = create_invoice(9_000)  # issued, never paid: never credited
        for invoice in (good, twice, over):
            relay.sb.pay_invoice(invoice.id)
        await reconcile(relay)  # forwards all three, exactly once each
        send(4_951, f"invoice-{twice.id}-r1", [f"invoice:{twice.id}"])  # a second forward
        send(7, f"extra-{over.id}", [f"invoice:{over.id}"])  # tagged, but a second one
        send(1_234, f"invoice-{stranger.id}", [f"invoice:{stranger.id}"])  # never credited
        send(500, "payroll-1", ["payroll"])  # names no invoice at all
        send(999, "elsewhere-1", ["payroll"], account_number="1234567")  # another account
        relay.sb.wait_until(lambda: all(t.status == "success" for t in starkbank.transfer.query()))

        report = await reconcile(relay)
        reasons = sorted((str(r["reason"]), int(r["amount"])) for r in report.unexplained)
        assert reasons == [
            ("forwarded more than once", 7),
            ("forwarded more than once", 4_951),
            ("no credited invoice of ours", 500),
            ("no credited invoice of ours", 1_234),
        ]
        assert report.unexplained_outflow == 4_951 + 7 + 1_234 + 500
        assert not any(r["invoice_id"] == good.id for r in report.unexplained)
        assert relay.server is not None
        scraped = (await relay_api(relay, "GET", "/metrics")).text.splitlines()  # read from Redis
        outflow = f"starkrelay_reconcile_unexplained_outflow_cents {report.unexplained_outflow}.0"
        assert outflow in scraped
        assert "starkrelay_reconcile_unexplained_transfers 4.0" in scraped

        body = (
            await relay_api(
                relay, "GET", "/api/v1/status", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
            )
        ).json()
        assert body["unexplained_outflow"]["cents"] == report.unexplained_outflow
        assert body["unexplained_outflow"]["transfers"] == 4


async def test_over_forwarding_counts_the_excess(redis_url: str, key_prefix: str) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0, "initial_balance": 10**6}
    ) as relay:
        invoice = create_invoice(3_000)
        relay.sb.pay_invoice(invoice.id)
        send(3_100, f"invoice-{invoice.id}", [f"invoice:{invoice.id}"])  # net is 2,950
        report = await reconcile(relay)
        [row] = report.unexplained
        assert (row["reason"], row["amount"]) == ("forwarded more than amount - fee", 150)
        assert "amount differs from net" in str(report.disagreements[0]["problem"])


async def test_a_credit_older_than_the_window_still_explains_its_forward(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0}) as relay:
        invoice = create_invoice(2_000)
        relay.sb.pay_invoice(invoice.id)
        send(1_950, f"invoice-{invoice.id}-r1", [f"invoice:{invoice.id}"])
        bank = BankGateway(relay.settings)
        transfers = await bank.find_transfers()
        destination = Destination.from_settings(relay.settings)
        # the window's credits hold nothing: the invoice is looked up by id, and found
        assert await unexplained_outflow(bank, transfers, {}, destination) == []
        [alone] = judge_outflow(transfers, {}, destination)
        assert alone.reason == "no credited invoice of ours"


def test_cli_reconcile_exits_3_on_unexplained_outflow(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from starkrelay.cli import app

    with relay_context(
        redis_url, key_prefix, serve=False, sandbox={"pay_share": 0.0, "initial_balance": 10**6}
    ) as relay:
        send(777, "stranger-1", ["invoice:123"])
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
        result = CliRunner().invoke(
            app, ["reconcile", "--since", YESTERDAY.isoformat()], env={"COLUMNS": "160"}
        )
        assert result.exit_code == 3, result.output
        assert "Unexplained outflow to the destination" in result.output
        assert "no credited invoice of ours" in result.output
        assert "unexplained outflow of R$ 7.77 in 1 transfer(s)" in result.output


def _transfer(status: str, amount: int, tags: tuple[str, ...], external_id: str) -> Transfer:
    return Transfer(
        id=external_id, amount=amount, name="n", tax_id="x", bank_code="20018183",
        branch_code="0001", account_number="6341320293482496", account_type="payment",
        external_id=external_id, status=status, fee=0, tags=tags,
        created=datetime.now(UTC), updated=None,
    )  # fmt: skip


def test_failed_transfers_are_never_outflow_and_a_success_explains_first() -> None:
    failed = _transfer("failed", 950, ("invoice:1",), "invoice-1")
    late = _transfer("success", 950, ("invoice:1",), "invoice-1-r1")
    stray = _transfer("failed", 10, (), "other")
    assert judge_outflow([failed, late, stray], {"1": 950}, None) == []
    pending = _transfer("processing", 950, ("invoice:1",), "invoice-1-r2")
    [second] = judge_outflow([pending, late], {"1": 950}, None)
    assert (second.transfer_id, second.reason) == ("invoice-1-r2", "forwarded more than once")
