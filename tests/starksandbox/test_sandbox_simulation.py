"""Time-driven behaviour: money by payment time, overdue and expiry, PATCH (reversals: see
test_sandbox_reversal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import starkbank
from starkbank.error import InputErrors

from starksandbox.testing import running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}
DAY = 86400


def _wire(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _invoice(amount: int, **extra: object) -> starkbank.Invoice:
    return starkbank.invoice.create([starkbank.Invoice(amount=amount, **PAYER, **extra)])[0]


def test_discount_applies_before_its_date() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        now = datetime.now(UTC)
        invoice = _invoice(
            10_000,
            due=_wire(now + timedelta(days=5)),
            discounts=[
                {"percentage": 10.0, "due": _wire(now + timedelta(days=1))},
                {"percentage": 5.0, "due": _wire(now + timedelta(days=3))},
            ],
        )
        paid = sb.pay_invoice(invoice.id)
        assert (paid["amount"], paid["discountAmount"], paid["fineAmount"]) == (9_000, 1_000, 0)
        second = _invoice(
            10_000,
            due=_wire(now + timedelta(days=5)),
            discounts=[
                {"percentage": 10.0, "due": _wire(now + timedelta(days=1))},
                {"percentage": 5.0, "due": _wire(now + timedelta(days=3))},
            ],
        )
        sb.advance_clock(2 * DAY)
        paid = sb.pay_invoice(second.id)
        assert (paid["amount"], paid["discountAmount"]) == (9_500, 500)
        assert starkbank.balance.get().amount == 9_000 - 50 + 9_500 - 50


def test_fine_and_interest_after_due() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        now = datetime.now(UTC)
        invoice = _invoice(30_000, due=_wire(now + timedelta(hours=1)), fine=2.0, interest=3.0)
        sb.advance_clock(10 * DAY)
        assert starkbank.invoice.get(invoice.id).status == "overdue"
        paid = sb.pay_invoice(invoice.id)
        # fine 2% of 30000 = 600; interest 3%/month * 10 days (9 days 23 h late, rounded up) = 300
        assert (paid["fineAmount"], paid["interestAmount"], paid["discountAmount"]) == (600, 300, 0)
        assert paid["amount"] == 30_900
        assert paid["nominalAmount"] == 30_000
        types = [log.type for log in starkbank.invoice.log.query(invoice_ids=[invoice.id])]
        assert types == ["credited", "paid", "overdue", "created"]


def test_payment_time_can_be_given() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        now = datetime.now(UTC)
        invoice = _invoice(10_000, due=_wire(now + timedelta(days=1)))
        paid = sb.pay_invoice(invoice.id, at=now.replace(microsecond=0) + timedelta(days=31))
        assert paid["fineAmount"] == 200
        assert paid["interestAmount"] == 100


def test_invoice_expires_and_cannot_be_paid() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        now = datetime.now(UTC)
        invoice = _invoice(1_000, due=_wire(now + timedelta(hours=1)), expiration=3600)
        sb.advance_clock(3 * 3600)
        assert starkbank.invoice.get(invoice.id).status == "expired"
        with pytest.raises(RuntimeError, match="invalidOperation"):
            sb.pay_invoice(invoice.id)
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.update(invoice.id, amount=5)
        assert caught.value.errors[0].code == "invalidOperation"


def test_auto_pay_follows_the_clock() -> None:
    with running_sandbox(pay_share=1.0, pay_delay=3600) as sb:
        invoice = _invoice(1_000)
        assert starkbank.invoice.get(invoice.id).status == "created"
        sb.advance_clock(3600)
        assert starkbank.invoice.get(invoice.id).status == "paid"


def test_auto_pay_share_is_a_share() -> None:
    with running_sandbox(pay_share=0.5, pay_delay=0.0, seed=7) as sb:
        starkbank.invoice.create([starkbank.Invoice(amount=100, **PAYER) for _ in range(100)])
        sb.advance_clock(1)
        paid = sb.summary()["invoices"].get("paid", 0)
        assert 25 < paid < 75


def test_patch_amount_due_expiration_while_open() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        invoice = _invoice(1_000)
        new_due = datetime.now(UTC) + timedelta(hours=1)
        updated = starkbank.invoice.update(invoice.id, amount=2_000, due=new_due, expiration=7200)
        assert updated.amount == 2_000
        assert updated.nominal_amount == 2_000
        assert updated.expiration == timedelta(seconds=7200)
        assert abs((updated.due - new_due.replace(tzinfo=None)).total_seconds()) < 1
        sb.advance_clock(3601)
        assert starkbank.invoice.get(invoice.id).status == "overdue"
        sb.advance_clock(7200)
        assert starkbank.invoice.get(invoice.id).status == "expired"
        types = [log.type for log in starkbank.invoice.log.query(invoice_ids=[invoice.id])]
        assert types == ["expired", "overdue", "updated", "created"]


def test_cancel_then_patch_is_invalid_operation() -> None:
    with running_sandbox(pay_share=0.0):
        invoice = _invoice(1_000)
        assert starkbank.invoice.update(invoice.id, status="canceled").status == "canceled"
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.update(invoice.id, amount=10)
        assert caught.value.errors[0].code == "invalidOperation"


def test_paid_invoice_cannot_be_canceled_or_raised() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        invoice = _invoice(1_000)
        sb.pay_invoice(invoice.id)
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.update(invoice.id, status="canceled")
        assert caught.value.errors[0].code == "invalidOperation"
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.update(invoice.id, amount=1_500)
        assert caught.value.errors[0].code == "invalidAmount"


def test_balance_arithmetic_end_to_end() -> None:
    with running_sandbox(invoice_fee=75, transfer_fee=20, initial_balance=1_000) as sb:
        invoices = starkbank.invoice.create(
            [starkbank.Invoice(amount=a, **PAYER) for a in (500, 700)]
        )
        sb.wait_until(lambda: sb.summary()["invoices"].get("paid") == 2)
        assert starkbank.balance.get().amount == 1_000 + 500 + 700 - 2 * 75
        starkbank.transfer.create(
            [
                starkbank.Transfer(
                    amount=1_000,
                    name="Stark Bank S.A.",
                    tax_id="20.018.183/0001-80",
                    bank_code="20018183",
                    branch_code="0001",
                    account_number="6341320293482496",
                    account_type="payment",
                    external_id=f"invoice-{invoices[0].id}",
                )
            ]
        )
        sb.wait_until(lambda: sb.summary()["transfers"].get("success") == 1)
        assert starkbank.balance.get().amount == 2_050 - 1_020
