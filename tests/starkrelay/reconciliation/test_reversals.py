"""Reversals: a payer given money back before the forward is not forwarded; after it, the
money report says how much to recover and ``reconcile`` exits non-zero."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import starkbank
from tests.support.cli import invoke
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    enqueue_credited,
    forward_all,
    relay_context,
)

from starkrelay.api.wiring import run_reconciliation

pytestmark = pytest.mark.anyio

FEE = 50


@pytest.fixture
def quiet(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    sandbox = {"pay_share": 0.0, "initial_balance": 10**9, "invoice_fee": FEE}
    with relay_context(redis_url, key_prefix, serve=False, sandbox=sandbox) as relay:
        yield relay


def forwards_of(invoice_id: str) -> list[Any]:
    return list(starkbank.transfer.query(tags=[f"invoice:{invoice_id}"]))


async def test_fully_reversed_before_the_forward_sends_nothing(quiet: Relay) -> None:
    invoice = create_invoice(2_000)
    quiet.sb.pay_invoice(invoice.id)
    starkbank.invoice.update(invoice.id, amount=0)  # the payer got everything back

    async with quiet.services() as services:
        await enqueue_credited(services, invoice.id, 2_000, fee=FEE)
        await forward_all(quiet.worker(services), services)
        ledger = await services.store.redis.hgetall(services.store.keys.webhook_ledger(invoice.id))
        ledger, report = dict(ledger), await run_reconciliation(services)
    assert forwards_of(invoice.id) == []
    assert ledger["stage"] == "skipped"
    assert ledger["skipped_reason"] == "reversed 2000 of 2000: nothing left to forward"
    assert (report.reversed, report.reversed_after_forward, report.disagreements) == (2_000, 0, [])
    assert report.enqueued_missing == 0  # reconciliation does not send it either


async def test_reversed_after_the_forward_is_money_to_recover_and_reconcile_exits_3(
    quiet: Relay, redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = create_invoice(3_000)
    quiet.sb.pay_invoice(invoice.id)

    async with quiet.services() as services:
        await enqueue_credited(services, invoice.id, 3_000, fee=FEE)
        await forward_all(quiet.worker(services), services)
    quiet.sb.wait_until(lambda: [t.status for t in forwards_of(invoice.id)] == ["success"])
    starkbank.invoice.update(invoice.id, amount=1_000)  # 2,000 back to the payer, after

    async with quiet.services() as services:
        report = await run_reconciliation(services)
    assert report.reversed_after_forward == 2_000  # forwarded 2,950, we hold 950
    assert report.reversals == [
        {"invoice_id": invoice.id, "forwarded": 2_950, "held": 950, "reversed": 2_000,
         "to_recover": 2_000}
    ]  # fmt: skip
    assert (report.unexplained_outflow, report.disagreements) == (0, [])
    assert [t.amount for t in forwards_of(invoice.id)] == [2_950]  # nothing sent again

    env = {
        "STARK_PROJECT_ID": quiet.sb.project_id, "STARK_PRIVATE_KEY": quiet.sb.private_key,
        "STARK_API_URL": quiet.sb.url, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix,
        "LOG_LEVEL": "ERROR",
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = await invoke(["reconcile"], env={"COLUMNS": "160"})
    assert result.exit_code == 3, result.output
    assert "reversed after their forward" in result.output
