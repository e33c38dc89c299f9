"""Every fault, set at start or at run time."""

from __future__ import annotations

import json
import time

import pytest
import starkbank
from webhook_receiver import Receiver

from starksandbox.testing import SandboxHandle, running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}


def _invoices(count: int) -> list[starkbank.Invoice]:
    items = [starkbank.Invoice(amount=100 + i, **PAYER) for i in range(count)]
    created: list[starkbank.Invoice] = starkbank.invoice.create(items)
    return created


def test_api_error_rate_fails_before_acting(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(api_error_rate=1.0)
    with pytest.raises(starkbank.error.InternalServerError):
        _invoices(1)
    sandbox.set_faults(api_error_rate=0.0)
    assert list(starkbank.invoice.query()) == []


def test_api_error_rate_set_at_start() -> None:
    with running_sandbox(faults={"api_error_rate": 1.0}) as sb:
        with pytest.raises(starkbank.error.InternalServerError):
            starkbank.balance.get()
        assert sb.summary()["faults"]["api_error_rate"] == 1.0


def test_api_error_rate_is_a_rate() -> None:
    with running_sandbox(seed=3, faults={"api_error_rate": 0.5}):
        failures = 0
        for _ in range(40):
            try:
                starkbank.balance.get()
            except starkbank.error.InternalServerError:
                failures += 1
        assert 5 < failures < 35


def test_lost_response_acts_but_answers_500(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(api_lost_response_rate=1.0)
    with pytest.raises(starkbank.error.InternalServerError):
        _invoices(2)
    sandbox.set_faults(api_lost_response_rate=0.0)
    assert len(list(starkbank.invoice.query())) == 2


def test_latency_is_added(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(api_latency=0.1)
    started = time.monotonic()
    starkbank.balance.get()
    assert time.monotonic() - started >= 0.1


def test_dropped_deliveries_stay_undelivered(receiver: Receiver) -> None:
    with running_sandbox(pay_share=0.0, faults={"webhook_drop_rate": 1.0}) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoices(3)
        sb.drain()
        assert receiver.deliveries == []
        assert len(list(starkbank.event.query(is_delivered=False))) == 3
        assert list(starkbank.event.attempt.query()) == []
        assert sb.summary()["deliveriesDropped"] == 3


def test_duplicated_deliveries_arrive_twice(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.set_faults(webhook_duplicate_rate=1.0)
    starkbank.webhook.create(url=receiver.url, subscriptions=["transfer"])
    starkbank.transfer.create(
        [
            starkbank.Transfer(
                amount=1,
                name="x",
                tax_id="012.345.678-90",
                bank_code="341",
                branch_code="1",
                account_number="1",
                account_type="checking",
                external_id="dup",
            )
        ]
    )
    deliveries = receiver.wait_for(2)
    ids = [json.loads(d.body)["event"]["id"] for d in deliveries[:2]]
    assert ids[0] == ids[1]
    assert deliveries[0].body == deliveries[1].body


def test_delayed_deliveries_wait_for_the_clock(receiver: Receiver) -> None:
    with running_sandbox(pay_share=0.0, faults={"webhook_delay": 60.0}) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoices(1)
        sb.drain()
        assert receiver.deliveries == []
        sb.advance_clock(60)
        receiver.wait_for(1)


def test_reordered_deliveries(receiver: Receiver) -> None:
    with running_sandbox(pay_share=0.0, seed=11, faults={"webhook_reorder_window": 30.0}) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        for _ in range(8):
            _invoices(1)
        created = [e.id for e in reversed(list(starkbank.event.query()))]
        sb.advance_clock(31)
        arrived = [json.loads(d.body)["event"]["id"] for d in receiver.wait_for(8)]
        assert sorted(arrived) == sorted(created)
        assert arrived != created


def test_faults_are_validated(sandbox: SandboxHandle) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.set_faults(gremlins=1.0)
    with pytest.raises(ValueError, match="within"):
        sandbox.set_faults(api_error_rate=2.0)


def test_duplicates_do_not_multiply_retries(receiver: Receiver) -> None:
    receiver.status_for = lambda _: 500
    faults = {"webhook_duplicate_rate": 1.0}
    with running_sandbox(pay_share=0.0, retry_schedule=(0.01, 0.01), faults=faults) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoices(1)
        receiver.wait_for(6)
        sb.wait_until(lambda: sb.summary()["attempts"] == 6 and sb.summary()["pendingTimers"] <= 2)
        sb.advance_clock(1)
        sb.drain()
        assert sb.summary()["attempts"] == 6
        assert len(receiver.deliveries) == 6


def test_refusal_after_create_acts_but_answers_an_unfamiliar_400(sandbox: SandboxHandle) -> None:
    sandbox.deposit(10_000)
    sandbox.set_faults(transfer_refused_after_create_rate=1.0)
    transfer = starkbank.Transfer(
        amount=100, name="Ana", tax_id="012.345.678-90", bank_code="20018183",
        branch_code="0001", account_number="6341320293482496", account_type="payment",
        external_id="fault-1",
    )  # fmt: skip
    with pytest.raises(starkbank.error.InputErrors) as refused:
        starkbank.transfer.create([transfer])
    assert [e.code for e in refused.value.errors] == ["unexpectedConflict"]
    starkbank.balance.get()  # other calls are untouched
    sandbox.set_faults(transfer_refused_after_create_rate=0.0)
    assert [t.external_id for t in starkbank.transfer.query()] == ["fault-1"]


DESTINATION = {
    "name": "Stark Bank S.A.",
    "tax_id": "20.018.183/0001-80",
    "bank_code": "20018183",
    "branch_code": "0001",
    "account_number": "6341320293482496",
    "account_type": "payment",
}


def test_transfer_fail_rate_fails_after_processing_and_returns_the_money() -> None:
    with running_sandbox(initial_balance=10_000, transfer_fee=30) as sb:
        sb.set_faults(transfer_fail_rate=1.0)
        (made,) = starkbank.transfer.create(
            [starkbank.Transfer(amount=1_000, external_id="refused-1", **DESTINATION)]
        )
        sb.wait_until(lambda: starkbank.transfer.get(made.id).status == "failed")
        logs = list(starkbank.transfer.log.query(transfer_ids=[made.id]))
        assert [log.type for log in logs] == ["failed", "sending", "processing", "created"]
        assert logs[0].errors == ["receiverRefused"]
        assert "invalidbalance" not in logs[0].errors
        assert starkbank.balance.get().amount == 10_000  # amount and fee came back
        assert sb.summary()["faults"]["transfer_fail_rate"] == 1.0


def test_transfer_fail_rate_is_a_rate_set_at_start() -> None:
    with running_sandbox(seed=5, initial_balance=10**6, faults={"transfer_fail_rate": 0.5}) as sb:
        made = starkbank.transfer.create(
            [
                starkbank.Transfer(amount=100 + n, external_id=f"rate-{n}", **DESTINATION)
                for n in range(40)
            ]
        )
        ids = {t.id for t in made}
        settled = {"success", "failed"}
        sb.wait_until(lambda: all(t.status in settled for t in starkbank.transfer.query()))
        statuses = [t.status for t in starkbank.transfer.query() if t.id in ids]
        failed = statuses.count("failed")
        assert 5 < failed < 35
        succeeded = sum(t.amount for t in starkbank.transfer.query() if t.status == "success")
        assert starkbank.balance.get().amount == 10**6 - succeeded
