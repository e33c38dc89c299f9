"""Conversions between SDK objects / raw responses and the gateway's dataclasses."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson
import starkbank
from starkcore.utils.checks import check_datetime, check_datetime_or_date, check_timedelta

from starkrelay.bank import models
from starkrelay.bank.calls import retry_after_of, transient_for_status
from starkrelay.bank.errors import BankError, BankInputError


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


def invoice_to_sdk(item: models.NewInvoice) -> Any:
    return starkbank.Invoice(
        amount=item.amount,
        tax_id=item.tax_id,
        name=item.name,
        due=item.due,
        expiration=item.expiration,
        tags=list(item.tags),
        discounts=[{"percentage": d.percentage, "due": d.due} for d in item.discounts] or None,
    )


def _reported(item: Any) -> dict[str, Any]:
    """The fields an invoice and a transfer share, read the same way from either."""
    return {
        "id": str(item.id),
        "amount": int(item.amount),
        "name": str(item.name),
        "tax_id": str(item.tax_id),
        "status": str(item.status),
        "fee": int(item.fee or 0),
        "tags": _strings(item.tags),
        "created": _when(item.created),
        "updated": _when(item.updated),
    }


def _logged(item: Any) -> tuple[str, str, datetime | None, tuple[str, ...]]:
    """What an invoice log and a transfer log share: id, type, created, errors (``_Log``)."""
    return str(item.id), str(item.type), _when(item.created), _strings(item.errors)


def invoice(item: Any) -> models.Invoice:
    return models.Invoice(
        **_reported(item),
        nominal_amount=int(item.nominal_amount if item.nominal_amount is not None else item.amount),
        due=_when(item.due),
        expiration=_seconds(item.expiration),
        discount_amount=int(getattr(item, "discount_amount", 0) or 0),
        fine_amount=int(getattr(item, "fine_amount", 0) or 0),
        interest_amount=int(getattr(item, "interest_amount", 0) or 0),
    )


def invoice_log(item: Any) -> models.InvoiceLog:
    return models.InvoiceLog(*_logged(item), invoice=invoice(item.invoice))


_API_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")
"""The API's usual date-time form, which ``check_datetime`` parses with ``strptime``."""


def _api_when(value: Any, checked: Any = check_datetime) -> datetime | None:
    """``_when(checked(value))``: the SDK's own parse of an API date-time (``checked`` is
    ``check_datetime`` or ``check_datetime_or_date``), with the usual form read by the faster
    ``fromisoformat`` into the same value."""
    if isinstance(value, str) and _API_DATETIME.fullmatch(value):
        return datetime.fromisoformat(value)
    return _when(checked(value))


class FromApi:
    """An object of the API's JSON (camelCase keys) read as the SDK's object reads: ``tax_id``
    is ``taxId``, dates and durations are parsed by the SDK's own checks, nested objects are
    read the same way. ``invoice_log(FromApi(json))`` equals ``invoice_log`` of the SDK's
    object for that JSON without building it (most of a forwarding read's client CPU).
    Every attribute is read from the JSON (``__getattribute__``: no failed lookup first)."""

    __slots__ = ("_body",)

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, "_body").get(_camel(name))
        if name in ("created", "updated"):
            return _api_when(value)
        if name == "due":
            return _api_when(value, check_datetime_or_date)
        if name == "expiration":
            return check_timedelta(value)
        return FromApi(value) if isinstance(value, dict) else value


@functools.cache
def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def transfer_to_api(item: models.NewTransfer) -> dict[str, Any]:
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


def transfer(item: Any) -> models.Transfer:
    return models.Transfer(
        **_reported(item),
        bank_code=str(item.bank_code),
        branch_code=str(item.branch_code),
        account_number=str(item.account_number),
        account_type=None if item.account_type is None else str(item.account_type),
        external_id=None if item.external_id is None else str(item.external_id),
    )


def transfer_log(item: Any) -> models.TransferLog:
    return models.TransferLog(*_logged(item), transfer=transfer(item.transfer))


def webhook(item: Any) -> models.Webhook:
    return models.Webhook(
        id=str(item.id), url=str(item.url), subscriptions=tuple(item.subscriptions or ())
    )


def balance(item: Any) -> models.Balance:
    return models.Balance(
        amount=int(item.amount), currency=str(item.currency), updated=_when(item.updated)
    )


def raw_json(response: Any, operation: str = "raw_request") -> dict[str, Any]:
    """The JSON body of a raw ``starkbank.request`` response, or the gateway error it means.

    Runs in the worker thread; raises ``TransientBankError`` for 429, 5xx and status 0 so
    the caller's retry loop sees it.
    """
    status = int(response.status)
    if status == 200:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:  # read as the standard library reads it (NaN, ...)
            body = json.loads(response.content.decode("utf-8"))
        if not isinstance(body, dict):
            raise BankError(operation, "expected a JSON object")
        return body
    if status == 400:
        errors = json.loads(response.content.decode("utf-8")).get("errors", [])
        raise BankInputError(
            operation,
            [models.ProviderError(str(e.get("code")), str(e.get("message"))) for e in errors],
        )
    transient = transient_for_status(
        status, str(response.content), retry_after_of(getattr(response, "headers", None))
    )
    if transient is not None:
        raise transient
    raise BankError(operation, f"unexpected HTTP status {status}")
