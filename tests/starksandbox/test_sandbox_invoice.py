"""Invoices and invoice logs through the official SDK."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
import starkbank
from starkbank.error import InputErrors

from starksandbox.testing import SandboxHandle, running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}


def _invoice(amount: int = 10_000, **extra: object) -> starkbank.Invoice:
    return starkbank.invoice.create([starkbank.Invoice(amount=amount, **PAYER, **extra)])[0]


def test_create_answers_full_invoice() -> None:
    with running_sandbox(pay_share=0.0):
        invoice = _invoice(
            tags=["War Supply", "X"], descriptions=[{"key": "Product", "value": "A"}]
        )
        assert len(invoice.id) == 16
        assert invoice.id.isdigit()
        assert invoice.status == "created"
        assert invoice.tags == ["war supply", "x"]
        assert invoice.nominal_amount == 10_000
        assert invoice.fine == 2.0
        assert invoice.interest == 1.0
        assert invoice.expiration == timedelta(seconds=5097600)
        assert invoice.fee == 0
        assert invoice.rules == []
        assert invoice.transaction_ids == []
        assert invoice.due - invoice.created == timedelta(days=2)
        assert invoice.brcode.startswith("000201")
        fetched = starkbank.invoice.get(invoice.id)
        assert fetched.id == invoice.id
        assert fetched.descriptions == [{"key": "Product", "value": "A"}]


def test_wire_datetimes_have_microseconds(sandbox: SandboxHandle) -> None:
    invoice = _invoice()
    raw = starkbank.request.get(path=f"/invoice/{invoice.id}").json()["invoice"]
    for name in ("created", "updated", "due"):
        assert raw[name][-6:] == "+00:00"
        assert raw[name][19] == "."
        assert len(raw[name]) == 32


def test_unknown_invoice_is_invalid_invoice(sandbox: SandboxHandle) -> None:
    with pytest.raises(InputErrors) as caught:
        starkbank.invoice.get("0")
    assert caught.value.errors[0].code == "invalidInvoice"


def test_query_filters_and_pages() -> None:
    with running_sandbox(pay_share=0.0):
        made = starkbank.invoice.create(
            [
                starkbank.Invoice(amount=100 + i, tags=["even" if i % 2 == 0 else "odd"], **PAYER)
                for i in range(7)
            ]
        )
        listed = list(starkbank.invoice.query())
        assert [i.id for i in listed] == [i.id for i in reversed(made)]
        assert len(list(starkbank.invoice.query(tags=["EVEN"]))) == 4
        assert [i.id for i in starkbank.invoice.query(ids=[made[0].id, made[1].id])] == [
            made[1].id,
            made[0].id,
        ]
        assert len(list(starkbank.invoice.query(limit=3))) == 3
        today = date.today()
        assert (
            len(
                list(
                    starkbank.invoice.query(
                        after=today - timedelta(days=1), before=today + timedelta(days=1)
                    )
                )
            )
            == 7
        )
        assert list(starkbank.invoice.query(after=today + timedelta(days=2))) == []
        starkbank.invoice.update(made[0].id, status="canceled")
        assert [i.id for i in starkbank.invoice.query(status="canceled")] == [made[0].id]
        pages, cursor = [], None
        while True:
            page, cursor = starkbank.invoice.page(cursor=cursor, limit=3)
            pages.append(len(page))
            if cursor is None:
                break
        assert pages == [3, 3, 1]


def test_auto_pay_credits_amount_minus_fee(sandbox: SandboxHandle) -> None:
    invoice = _invoice(10_000)
    sandbox.wait_until(lambda: starkbank.invoice.get(invoice.id).status == "paid")
    paid = starkbank.invoice.get(invoice.id)
    assert paid.amount == 10_000
    assert paid.fee == 50
    assert len(paid.transaction_ids) == 1
    assert starkbank.balance.get().amount == 9_950
    logs = list(starkbank.invoice.log.query(invoice_ids=[invoice.id]))
    assert [log.type for log in logs] == ["credited", "paid", "created"]
    credited = logs[0]
    assert credited.invoice.amount - credited.invoice.fee == 9_950
    assert starkbank.invoice.log.get(credited.id).type == "credited"
    assert [log.type for log in starkbank.invoice.log.query(types=["paid"])] == ["paid"]
    payment = starkbank.invoice.payment(invoice.id)
    assert payment.amount == 10_000
    assert payment.method == "pix"


def test_pay_share_zero_leaves_invoices_open() -> None:
    with running_sandbox(pay_share=0.0, pay_delay=0.0) as sb:
        invoice = _invoice()
        sb.advance_clock(60)
        assert starkbank.invoice.get(invoice.id).status == "created"
        with pytest.raises(InputErrors) as caught:
            starkbank.invoice.payment(invoice.id)
        assert caught.value.errors[0].code == "invalidInvoice"


def test_pay_now_control() -> None:
    with running_sandbox(pay_share=0.0) as sb:
        invoice = _invoice(5_000)
        paid = sb.pay_invoice(invoice.id, amount=4_000)
        assert paid["status"] == "paid"
        assert paid["amount"] == 4_000
        assert starkbank.balance.get().amount == 3_950


def test_pdf_and_qrcode_are_real_documents(sandbox: SandboxHandle) -> None:
    invoice = _invoice()
    pdf = starkbank.invoice.pdf(invoice.id)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1000
    link = httpx.get(invoice.pdf, timeout=10)
    assert link.status_code == 200
    assert link.content.startswith(b"%PDF-")
    png = starkbank.invoice.qrcode(invoice.id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    bigger = starkbank.invoice.qrcode(invoice.id, size=25)
    assert len(bigger) > len(png)
    with pytest.raises(InputErrors) as caught:
        starkbank.invoice.qrcode(invoice.id, size=51)
    assert caught.value.errors[0].code == "invalidSize"


def test_unknown_invoice_log_is_refused(sandbox: SandboxHandle) -> None:
    with pytest.raises(InputErrors) as caught:
        starkbank.invoice.log.get("123")
    assert caught.value.errors[0].code == "invalidInvoiceLog"
    with pytest.raises(InputErrors) as caught:
        list(starkbank.invoice.log.query(types=["random"]))
    assert caught.value.errors[0].code == "invalidInvoiceLog"


def test_concurrent_sdk_calls_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with running_sandbox(pay_share=0.0):

        def create(n: int) -> list[str]:
            made = starkbank.invoice.create(
                [starkbank.Invoice(amount=100 + n, **PAYER) for _ in range(10)]
            )
            return [i.id for i in made]

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = [i for batch in pool.map(create, range(16)) for i in batch]
        assert len(set(ids)) == 160
        assert {i.id for i in starkbank.invoice.query()} == set(ids)
