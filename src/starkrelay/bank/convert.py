"""Conversions between SDK objects / raw responses and the gateway's dataclasses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import starkbank

from starkrelay.bank.calls import TransientBankError
from starkrelay.bank.errors import BankError, BankInputError
from starkrelay.bank.models import (
    Balance,
    Invoice,
    InvoiceLog,
    NewInvoice,
    NewTransfer,
    ProviderError,
    Transfer,
    TransferLog,
    Webhook,
)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _strings(values: Any) -> tuple[str, ...]:
    """Tags or errors as the SDK gives them (a list or None) as a tuple of strings."""
    return tuple(str(value) for value in values or ())


def _seconds(value: Any) -> int | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        return int(value.total_seconds())
    return int(value)


def invoice_to_sdk(item: NewInvoice) -> Any:
    return starkbank.Invoice(
        amount=item.amount,
        tax_id=item.tax_id,
        name=item.name,
        due=item.due,
        expiration=item.expiration,
        tags=list(item.tags),
        discounts=[{"percentage": d.percentage, "due": d.due} for d in item.discounts] or None,
    )


def invoice(item: Any) -> Invoice:
    return Invoice(
        id=str(item.id),
        amount=int(item.amount),
        nominal_amount=int(item.nominal_amount if item.nominal_amount is not None else item.amount),
        fee=int(item.fee or 0),
        status=str(item.status),
        name=str(item.name),
        tax_id=str(item.tax_id),
        tags=_strings(item.tags),
        due=_when(item.due),
        expiration=_seconds(item.expiration),
        created=_when(item.created),
        updated=_when(item.updated),
        discount_amount=int(getattr(item, "discount_amount", 0) or 0),
        fine_amount=int(getattr(item, "fine_amount", 0) or 0),
        interest_amount=int(getattr(item, "interest_amount", 0) or 0),
    )


def invoice_log(item: Any) -> InvoiceLog:
    return InvoiceLog(
        id=str(item.id),
        type=str(item.type),
        created=_when(item.created),
        errors=_strings(item.errors),
        invoice=invoice(item.invoice),
    )


def transfer_to_sdk(item: NewTransfer) -> Any:
    return starkbank.Transfer(
        amount=item.amount,
        name=item.name,
        tax_id=item.tax_id,
        bank_code=item.bank_code,
        branch_code=item.branch_code,
        account_number=item.account_number,
        account_type=item.account_type,
        external_id=item.external_id,
        tags=list(item.tags),
        description=item.description,
    )


def transfer(item: Any) -> Transfer:
    return Transfer(
        id=str(item.id),
        amount=int(item.amount),
        name=str(item.name),
        tax_id=str(item.tax_id),
        bank_code=str(item.bank_code),
        branch_code=str(item.branch_code),
        account_number=str(item.account_number),
        account_type=None if item.account_type is None else str(item.account_type),
        external_id=None if item.external_id is None else str(item.external_id),
        status=str(item.status),
        fee=int(item.fee or 0),
        tags=_strings(item.tags),
        created=_when(item.created),
        updated=_when(item.updated),
    )


def transfer_log(item: Any) -> TransferLog:
    return TransferLog(
        id=str(item.id),
        type=str(item.type),
        created=_when(item.created),
        errors=_strings(item.errors),
        transfer=transfer(item.transfer),
    )


def webhook(item: Any) -> Webhook:
    return Webhook(
        id=str(item.id), url=str(item.url), subscriptions=tuple(item.subscriptions or ())
    )


def balance(item: Any) -> Balance:
    return Balance(
        amount=int(item.amount), currency=str(item.currency), updated=_when(item.updated)
    )


def raw_json(response: Any) -> dict[str, Any]:
    """The JSON body of a raw ``starkbank.request`` response, or the gateway error it means.

    Runs in the worker thread; raises ``TransientBankError`` for 5xx and status 0 so the
    caller's retry loop sees it.
    """
    status = int(response.status)
    if status == 200:
        body = json.loads(response.content.decode("utf-8"))
        if not isinstance(body, dict):
            raise BankError("raw_request", "expected a JSON object")
        return body
    if status == 400:
        errors = json.loads(response.content.decode("utf-8")).get("errors", [])
        raise BankInputError(
            "raw_request",
            [ProviderError(str(e.get("code")), str(e.get("message"))) for e in errors],
        )
    if status == 0:
        text = str(response.content)
        kind = "timeout" if "Timeout" in text else "connection"
        raise TransientBankError(kind, text[:200])
    if status >= 500:
        raise TransientBankError("server_error", f"HTTP {status}")
    raise BankError("raw_request", f"unexpected HTTP status {status}")
