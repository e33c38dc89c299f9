"""Conversions between SDK objects / raw responses and the gateway's dataclasses."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import starkbank
from starkcore.utils.checks import check_datetime, check_datetime_or_date, check_timedelta

from starkrelay.bank.calls import retry_after_of, transient_for_status
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


_API_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")
"""The API's usual date-time form, which ``check_datetime`` parses with ``strptime``."""


def _api_when(value: Any, checked: Any = check_datetime) -> datetime | None:
    """``_when(checked(value))``: the SDK's own parse of an API date-time (``checked`` is
    ``check_datetime`` or ``check_datetime_or_date``), with the usual form read by the faster
    ``fromisoformat`` into the same value."""
    if isinstance(value, str) and _API_DATETIME.fullmatch(value):
        return datetime.fromisoformat(value)
    return _when(checked(value))


def invoice_from_api(item: dict[str, Any]) -> Invoice:
    """An invoice from the API's JSON (camelCase keys), equal to what ``invoice`` makes of the
    SDK's object for the same JSON (dates parsed by the SDK's own checks)."""
    amount, nominal = item.get("amount"), item.get("nominalAmount")
    return Invoice(
        id=str(item.get("id")),
        amount=int(amount),  # type: ignore[arg-type]
        nominal_amount=int(nominal if nominal is not None else amount),  # type: ignore[arg-type]
        fee=int(item.get("fee") or 0),
        status=str(item.get("status")),
        name=str(item.get("name")),
        tax_id=str(item.get("taxId")),
        tags=_strings(item.get("tags")),
        due=_api_when(item.get("due"), check_datetime_or_date),
        expiration=_seconds(check_timedelta(item.get("expiration"))),
        created=_api_when(item.get("created")),
        updated=_api_when(item.get("updated")),
        discount_amount=int(item.get("discountAmount") or 0),
        fine_amount=int(item.get("fineAmount") or 0),
        interest_amount=int(item.get("interestAmount") or 0),
    )


def invoice_log_from_api(item: dict[str, Any]) -> InvoiceLog:
    """An invoice log from the API's JSON, equal to what ``invoice_log`` makes of the SDK's
    object: building SDK objects costs more CPU than the request on the forwarding path."""
    return InvoiceLog(
        id=str(item.get("id")),
        type=str(item.get("type")),
        created=_api_when(item.get("created")),
        errors=_strings(item.get("errors")),
        invoice=invoice_from_api(item.get("invoice") or {}),
    )


def transfer_to_api(item: NewTransfer) -> dict[str, Any]:
    """A transfer as the API's JSON takes it (what ``starkbank.Transfer`` would send)."""
    body: dict[str, Any] = {
        "amount": item.amount,
        "name": item.name,
        "taxId": item.tax_id,
        "bankCode": item.bank_code,
        "branchCode": item.branch_code,
        "accountNumber": item.account_number,
        "accountType": item.account_type,
        "externalId": item.external_id,
        "tags": list(item.tags),
    }
    if item.description is not None:
        body["description"] = item.description
    return body


def transfer_from_api(item: dict[str, Any]) -> Transfer:
    """A transfer from the API's JSON (camelCase keys), as ``transfer`` reads the SDK's."""
    account_type, external_id = item.get("accountType"), item.get("externalId")
    return Transfer(
        id=str(item["id"]),
        amount=int(item["amount"]),
        name=str(item["name"]),
        tax_id=str(item["taxId"]),
        bank_code=str(item["bankCode"]),
        branch_code=str(item["branchCode"]),
        account_number=str(item["accountNumber"]),
        account_type=None if account_type is None else str(account_type),
        external_id=None if external_id is None else str(external_id),
        status=str(item["status"]),
        fee=int(item.get("fee") or 0),
        tags=_strings(item.get("tags")),
        created=_iso(item.get("created")),
        updated=_iso(item.get("updated")),
    )


def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    return _when(datetime.fromisoformat(str(value)))


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


def raw_json(response: Any, operation: str = "raw_request") -> dict[str, Any]:
    """The JSON body of a raw ``starkbank.request`` response, or the gateway error it means.

    Runs in the worker thread; raises ``TransientBankError`` for 429, 5xx and status 0 so
    the caller's retry loop sees it.
    """
    status = int(response.status)
    if status == 200:
        body = json.loads(response.content.decode("utf-8"))
        if not isinstance(body, dict):
            raise BankError(operation, "expected a JSON object")
        return body
    if status == 400:
        errors = json.loads(response.content.decode("utf-8")).get("errors", [])
        raise BankInputError(
            operation,
            [ProviderError(str(e.get("code")), str(e.get("message"))) for e in errors],
        )
    transient = transient_for_status(
        status, str(response.content), retry_after_of(getattr(response, "headers", None))
    )
    if transient is not None:
        raise transient
    raise BankError(operation, f"unexpected HTTP status {status}")
