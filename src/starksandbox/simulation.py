"""What happens to invoices and transfers as time passes, as in the real sandbox.

Invoices: a ``pay_share`` of new invoices is paid ``pay_delay`` seconds after creation
(``paid`` then ``credited`` logs; the balance gains amount minus fee); unpaid invoices go
``overdue`` at ``due`` and ``expired`` at ``due + expiration``. Lowering a paid invoice's amount
reverses the difference (``reversed`` log, balance debited).

Transfers: ``created`` until due, then ``processing`` (balance debited by amount plus fee)
and ``success`` after ``transfer_processing_delay`` each, or ``failed`` with errors
``["invalidbalance"]`` when the balance cannot cover amount plus fee. Half way from
``processing`` to ``success`` the transfer is handed to the receiving bank: a ``sending`` log
whose transfer is still ``processing``. With the fault ``transfer_fail_rate`` a sent transfer
may instead be refused by the receiving bank: ``failed`` with errors ``["receiverRefused"]``
and amount plus fee back in the balance.

Timers run by the emulator's clock, so advancing the clock moves everything along.
"""

from __future__ import annotations

import math
import string
from datetime import datetime, timedelta

from starksandbox.models import Invoice, Transfer
from starksandbox.state import Workspace
from starksandbox.web import ApiError

PAYABLE = ("created", "overdue")
_PAYERS = (
    ("Maria Oliveira", "012.345.678-90"),
    ("João Souza", "529.982.247-25"),
    ("Ana Lima Comércio Ltda", "11.222.333/0001-81"),
)


def charges_at(invoice: Invoice, moment: datetime) -> tuple[int, int, int]:
    """(discount, fine, interest) in cents for a payment of ``invoice`` at ``moment``.

    Before or at ``due``: the first discount (by date) whose date has not passed, as a
    percentage of the nominal amount. After ``due``: the ``fine`` percentage once, plus
    ``interest`` percent per month pro rata per started day late (30-day months).
    """
    nominal = invoice.nominal_amount
    if moment <= invoice.due:
        for discount in sorted(invoice.discounts, key=lambda d: d.due):
            if moment <= discount.due:
                return round(nominal * discount.percentage / 100), 0, 0
        return 0, 0, 0
    days_late = math.ceil((moment - invoice.due) / timedelta(days=1))
    fine = round(nominal * invoice.fine / 100)
    interest = round(nominal * invoice.interest / 100 * days_late / 30)
    return 0, fine, interest


def track_invoice(ws: Workspace, invoice: Invoice) -> None:
    """Start the life of a new invoice: its ``created`` log, its due/expiry timers, auto-pay."""
    ws.add_log("invoice", invoice, "created")
    schedule_due_dates(ws, invoice)
    if ws.rng.random() < ws.config.pay_share:
        ws.timers.after(ws.config.pay_delay, lambda: _auto_pay(ws, invoice))


def schedule_due_dates(ws: Workspace, invoice: Invoice) -> None:
    due = invoice.due.timestamp()
    ws.timers.at(due, lambda: _go_overdue(ws, invoice))
    ws.timers.at(due + invoice.expiration, lambda: _go_expired(ws, invoice))


def _become(
    ws: Workspace, subject: Invoice | Transfer, status: str, errors: list[str] | None = None
) -> None:
    """``subject`` takes ``status`` now, logged with that type (the snapshot shows it)."""
    subject.status = status
    subject.updated = ws.clock.now()
    ws.add_log("invoice" if isinstance(subject, Invoice) else "transfer", subject, status, errors)


def _go_overdue(ws: Workspace, invoice: Invoice) -> None:
    if invoice.status == "created" and ws.clock.time() >= invoice.due.timestamp():
        _become(ws, invoice, "overdue")


def _go_expired(ws: Workspace, invoice: Invoice) -> None:
    if (
        invoice.status in PAYABLE
        and ws.clock.time() >= invoice.due.timestamp() + invoice.expiration
    ):
        _become(ws, invoice, "expired")


def _auto_pay(ws: Workspace, invoice: Invoice) -> None:
    if invoice.status not in PAYABLE:
        return
    amount = None
    if invoice.nominal_amount == 0:
        amount = ws.rng.randrange(100, 10_000)
    pay_invoice(ws, invoice, amount=amount)


def pay_invoice(
    ws: Workspace, invoice: Invoice, amount: int | None = None, at: datetime | None = None
) -> None:
    """Pay ``invoice`` now (or as if at ``at``): ``paid`` then ``credited`` logs.

    Without ``amount`` the payer pays exactly what is due at that moment (discounts, fine,
    interest); with it, that amount. Raises ``ApiError`` if the invoice is not payable.
    """
    if invoice.status not in PAYABLE:
        raise ApiError.one(
            "invalidOperation",
            f"Invoice {invoice.id} is {invoice.status}; "
            "only created or overdue invoices can be paid",
        )
    moment = at or ws.clock.now()
    discount, fine, interest = charges_at(invoice, moment)
    invoice.discount_amount, invoice.fine_amount, invoice.interest_amount = discount, fine, interest
    invoice.amount = (
        amount if amount is not None else invoice.nominal_amount - discount + fine + interest
    )
    invoice.status = "paid"
    invoice.fee = ws.config.invoice_fee
    invoice.paid_at = moment
    invoice.updated = ws.clock.now()
    invoice.transaction_ids.append(ws.ids.transaction())
    name, tax_id = _PAYERS[ws.rng.randrange(len(_PAYERS))]
    invoice.payment = {
        "amount": invoice.amount,
        "name": name,
        "taxId": tax_id,
        "bankCode": "20018183",
        "branchCode": "0001",
        "accountNumber": str(ws.rng.randrange(10**9, 10**10)),
        "accountType": "checking",
        "endToEndId": _end_to_end_id(ws, moment),
        "method": "pix",
    }
    ws.add_log("invoice", invoice, "paid")
    ws.move_balance(invoice.amount - invoice.fee)
    ws.add_log("invoice", invoice, "credited")


def _end_to_end_id(ws: Workspace, moment: datetime) -> str:
    alphabet = string.ascii_letters + string.digits
    tail = "".join(alphabet[ws.rng.randrange(len(alphabet))] for _ in range(11))
    return f"E20018183{moment.strftime('%Y%m%d%H%M')}{tail}"


def reverse_invoice(ws: Workspace, invoice: Invoice, new_amount: int) -> None:
    """Lower a paid invoice's amount: the difference goes back to the payer (``reversed``)."""
    difference = invoice.amount - new_amount
    invoice.amount = new_amount
    invoice.updated = ws.clock.now()
    invoice.transaction_ids.append(ws.ids.transaction())
    ws.move_balance(-difference)
    ws.add_log("invoice", invoice, "reversed")


def cancel_invoice(ws: Workspace, invoice: Invoice) -> None:
    _become(ws, invoice, "canceled")


def track_transfer(ws: Workspace, transfer: Transfer) -> None:
    """Start the life of a new transfer: ``created`` log, then processing when due."""
    ws.add_log("transfer", transfer, "created")
    start = max(transfer.scheduled.timestamp(), ws.clock.time())
    ws.timers.at(start + ws.config.transfer_processing_delay, lambda: _process(ws, transfer))


def _process(ws: Workspace, transfer: Transfer) -> None:
    if transfer.status != "created":
        return
    cost = transfer.amount + transfer.fee
    if ws.balance < cost:
        _become(ws, transfer, "failed", ["invalidbalance"])
        return
    ws.move_balance(-cost)
    transfer.transaction_ids.append(ws.ids.transaction())
    _become(ws, transfer, "processing")
    ws.timers.after(ws.config.transfer_processing_delay / 2, lambda: _send(ws, transfer))


def _send(ws: Workspace, transfer: Transfer) -> None:
    """Hand the transfer to the receiving bank: a ``sending`` log, the status stays."""
    if transfer.status != "processing":
        return
    transfer.updated = ws.clock.now()
    ws.add_log("transfer", transfer, "sending")
    ws.timers.after(ws.config.transfer_processing_delay / 2, lambda: _succeed(ws, transfer))


RECEIVER_REFUSED = "receiverRefused"
"""Errors of a transfer the receiving bank refused after ``sending`` (fault only)."""


def _succeed(ws: Workspace, transfer: Transfer) -> None:
    if transfer.status != "processing":
        return
    rate = ws.faults.transfer_fail_rate
    if rate and ws.fault_rng.random() < rate:
        ws.move_balance(transfer.amount + transfer.fee)
        _become(ws, transfer, "failed", [RECEIVER_REFUSED])
        return
    _become(ws, transfer, "success")


def cancel_transfer(ws: Workspace, transfer: Transfer) -> None:
    if transfer.status != "created":
        raise ApiError.one(
            "invalidTransfer",
            f"Transfer {transfer.id} is {transfer.status}; only a transfer not yet processed "
            "(status created) can be canceled",
        )
    _become(ws, transfer, "canceled")
