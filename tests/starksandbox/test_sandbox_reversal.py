"""Reversals as the SDK documents them: ``invoice.update(id, amount=lower)`` on a paid invoice.

Each one is an invoice log ``reversed`` whose invoice carries the lowered amount, a debit of
the difference from the balance, and an ``invoice`` event delivered to the webhook.
"""

from __future__ import annotations

import json

import pytest
import starkbank
from starkbank.error import InputErrors
from webhook_receiver import Receiver

from starksandbox.testing import SandboxHandle, running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}
FEE = 50


def _paid_invoice(sb: SandboxHandle, amount: int) -> starkbank.Invoice:
    (invoice,) = starkbank.invoice.create([starkbank.Invoice(amount=amount, **PAYER)])
    sb.pay_invoice(invoice.id)
    return invoice


def _reversed_logs(invoice_id: str) -> list[starkbank.invoice.Log]:
    return list(starkbank.invoice.log.query(types=["reversed"], invoice_ids=[invoice_id]))


def test_partial_reversal_logs_the_lowered_amount_and_debits_the_difference() -> None:
    with running_sandbox(pay_share=0.0, invoice_fee=FEE) as sb:
        invoice = _paid_invoice(sb, 10_000)
        assert starkbank.balance.get().amount == 10_000 - FEE
        updated = starkbank.invoice.update(invoice.id, amount=6_000)
        assert (updated.amount, updated.status) == (6_000, "paid")
        assert starkbank.balance.get().amount == 6_000 - FEE
        (log,) = _reversed_logs(invoice.id)
        assert log.invoice.id == invoice.id
        assert log.invoice.amount == 6_000
        assert log.invoice.nominal_amount == 10_000
        assert log.invoice.status == "paid"
        assert starkbank.invoice.log.get(log.id).invoice.amount == 6_000
        assert len(log.invoice.transaction_ids) == 2


def test_full_reversal_logs_amount_zero() -> None:
    with running_sandbox(pay_share=0.0, invoice_fee=FEE) as sb:
        invoice = _paid_invoice(sb, 10_000)
        assert starkbank.invoice.update(invoice.id, amount=0).amount == 0
        assert starkbank.balance.get().amount == -FEE  # the fee is not returned
        (log,) = _reversed_logs(invoice.id)
        assert log.invoice.amount == 0
        assert log.invoice.status == "paid"
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.update(invoice.id, amount=0)  # nothing left to reverse
        assert caught.value.errors[0].code == "invalidAmount"


def test_reversals_in_steps_each_log_their_amount() -> None:
    with running_sandbox(pay_share=0.0, invoice_fee=FEE) as sb:
        invoice = _paid_invoice(sb, 10_000)
        starkbank.invoice.update(invoice.id, amount=6_000)
        starkbank.invoice.update(invoice.id, amount=0)
        assert [log.invoice.amount for log in _reversed_logs(invoice.id)] == [0, 6_000]
        assert starkbank.balance.get().amount == -FEE
        assert len(starkbank.invoice.get(invoice.id).transaction_ids) == 3
        types = [log.type for log in starkbank.invoice.log.query(invoice_ids=[invoice.id])]
        assert types == ["reversed", "reversed", "credited", "paid", "created"]


def test_reversed_log_query_names_only_that_invoice() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        first, second = (_paid_invoice(sb, 1_000), _paid_invoice(sb, 2_000))
        starkbank.invoice.update(first.id, amount=400)
        starkbank.invoice.update(second.id, amount=1_500)
        (log,) = _reversed_logs(first.id)
        assert (log.invoice.id, log.invoice.amount) == (first.id, 400)
        every = list(starkbank.invoice.log.query(types=["reversed"]))
        assert {log.invoice.id for log in every} == {first.id, second.id}


def test_reversal_is_delivered_as_a_signed_invoice_event(receiver: Receiver) -> None:
    with running_sandbox(pay_share=0.0) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        invoice = _paid_invoice(sb, 10_000)
        receiver.wait_for(3)  # created, paid, credited
        starkbank.invoice.update(invoice.id, amount=2_500)
        delivery = receiver.wait_for(4)[3]
        event = starkbank.event.parse(content=delivery.body.decode(), signature=delivery.signature)
        assert event.subscription == "invoice"
        assert event.log.type == "reversed"
        assert event.log.invoice.id == invoice.id
        assert event.log.invoice.amount == 2_500
        (log,) = _reversed_logs(invoice.id)
        assert event.log.id == log.id
        assert json.loads(delivery.body)["event"]["log"]["invoice"]["amount"] == 2_500
        sb.wait_until(lambda: starkbank.event.get(event.id).is_delivered)


def test_reversal_has_a_receipt_other_logs_do_not() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        invoice = _paid_invoice(sb, 10_000)
        starkbank.invoice.update(invoice.id, amount=6_000)
        (log,) = _reversed_logs(invoice.id)
        assert starkbank.invoice.log.pdf(log.id).startswith(b"%PDF-")
        created_log = next(iter(starkbank.invoice.log.query(types=["created"])))
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.log.pdf(created_log.id)
        assert caught.value.errors[0].code == "invalidInvoiceLog"
