"""``/v2/transfer``: create, get, query, DELETE, pdf; and ``/v2/transfer/log``.

A repeated ``externalId`` (against earlier transfers or within the batch) is refused with
``invalidExternalId``. Without one, the API derives it from workspace, amount, receiver and
date, so the same amount to the same receiver on the same day is refused as a duplicate.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starksandbox import documents, simulation, validation
from starksandbox.listing import (
    brazil_day,
    page_of,
    parse_day,
    parse_limit,
    parse_list,
    within_days,
)
from starksandbox.models import Transfer
from starksandbox.resources.logs import log_resource
from starksandbox.resources.routing import (
    Resource,
    add_rest_routes,
    common_filters,
    create_batch,
    workspace_binder,
)
from starksandbox.state import Workspace
from starksandbox.validation import Errors
from starksandbox.web import ApiError, Request, Response, Router, json_response

TRANSFER_FIELDS = frozenset(
    {
        "amount",
        "name",
        "taxId",
        "bankCode",
        "branchCode",
        "accountNumber",
        "accountType",
        "externalId",
        "scheduled",
        "description",
        "displayDescription",
        "tags",
        "rules",
    }
)
REQUIRED = ("amount", "name", "taxId", "bankCode", "branchCode", "accountNumber")
ACCOUNT_TYPES = frozenset({"checking", "savings", "salary", "payment"})
TRANSFER_STATUSES = frozenset({"created", "processing", "success", "failed", "canceled"})
TRANSFER_LOG_TYPES = frozenset(
    {"created", "processing", "sending", "success", "failed", "canceled"}
)
TRANSFERS: Resource[Transfer] = Resource(
    lambda ws: ws.transfers, "transfer", "invalidTransfer", "Transfer"
)
TRANSFER_LOGS = log_resource("transfer", lambda ws: ws.transfer_logs, TRANSFER_LOG_TYPES)
SORTS = frozenset({"created", "-created", "updated", "-updated"})
_BANK_CODE = re.compile(r"^(\d{1,3}|\d{8})$")
_BRANCH = re.compile(r"^\d{1,4}(-\d)?$")
_ACCOUNT = re.compile(r"^\d{1,20}(-[\dxX])?$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_=\-.~:]{1,128}$")


def register(router: Router, current: Callable[[], Workspace]) -> None:
    """Add the transfer routes; ``current`` returns the live workspace."""
    bind = workspace_binder(current)
    add_rest_routes(
        router, bind, "/v2/transfer/log", query=TRANSFER_LOGS.query, get=TRANSFER_LOGS.get
    )
    add_rest_routes(
        router, bind, "/v2/transfer", create=create, query=query, get=TRANSFERS.get, delete=delete
    )
    router.add("GET", "/v2/transfer/{id}/pdf", bind(pdf))


def _pattern(
    item: dict[str, Any],
    name: str,
    regex: re.Pattern[str],
    code: str,
    where: str,
    errors: Errors,
) -> str:
    value = item.get(name)
    if isinstance(value, str) and regex.match(value):
        return value
    errors.append((code, f"{where}: {name} {value!r} is not valid"))
    return ""


def _scheduled(value: Any, now: datetime, where: str, errors: Errors) -> datetime:
    if value is None:
        return now
    moment = validation.parse_moment(value)
    if moment is None:
        errors.append(
            ("invalidDateTime", f"{where}: scheduled must be a date or datetime, got {value!r}")
        )
        return now
    when, date_only = moment
    if date_only:
        day = brazil_day(when)
        if day < validation.brazil_today(now):
            errors.append(("invalidDate", f"{where}: scheduled date {value!r} is in the past"))
        if day == validation.brazil_today(now):
            return now
        return datetime(day.year, day.month, day.day, 11, tzinfo=now.tzinfo)
    if when < now - validation.GRACE:
        errors.append(("invalidDateTime", f"{where}: scheduled datetime {value!r} is in the past"))
    return max(when, now)


def parse_transfer(
    ws: Workspace, item: Any, where: str, now: datetime, errors: Errors
) -> dict[str, Any]:
    if not isinstance(item, dict):
        errors.append(("invalidJson", f"{where}: each transfer must be a JSON object"))
        return {}
    before = len(errors)
    if not validation.check_fields(item, TRANSFER_FIELDS, where, errors, required=REQUIRED):
        return {}
    values: dict[str, Any] = {
        "amount": validation.check_amount(item["amount"], where, errors, minimum=1),
        "name": validation.check_text(item["name"], "invalidName", "name", where, errors),
        "tax_id": validation.check_tax_id(item["taxId"], where, errors),
        "bank_code": _pattern(item, "bankCode", _BANK_CODE, "invalidBankCode", where, errors),
        "branch_code": _pattern(item, "branchCode", _BRANCH, "invalidBranchCode", where, errors),
        "account_number": _pattern(
            item, "accountNumber", _ACCOUNT, "invalidAccountNumber", where, errors
        ),
        "tags": validation.check_tags(item.get("tags"), where, errors),
        "rules": validation.check_rules(
            item.get("rules"), "resendingLimit", validation.is_int, "int", where, errors
        ),
        "scheduled": _scheduled(item.get("scheduled"), now, where, errors),
    }
    account_type = item.get("accountType", "checking") or "checking"
    if account_type not in ACCOUNT_TYPES:
        errors.append(
            ("invalidAccountType", f"{where}: accountType must be among {sorted(ACCOUNT_TYPES)}")
        )
    values["account_type"] = account_type
    for name, key in (
        ("description", "description"),
        ("display_description", "displayDescription"),
    ):
        text = item.get(key)
        if text is not None and not isinstance(text, str):
            errors.append(("invalidDescription", f"{where}: {key} must be a string"))
        values[name] = text
    values["description"] = values["description"] or f"{values['name']} ({values['tax_id']})"
    external_id = item.get("externalId")
    if external_id is None:
        raw = ":".join(
            [
                ws.workspace_id,
                str(values["amount"]),
                values["tax_id"],
                values["bank_code"].zfill(3),
                values["branch_code"],
                values["account_number"],
                validation.brazil_today(values["scheduled"]).isoformat(),
            ]
        )
        external_id = base64.b64encode(raw.encode()).decode()
    elif not isinstance(external_id, str) or not _EXTERNAL_ID.match(external_id):
        errors.append(
            (
                "invalidExternalId",
                f"{where}: externalId must be a url-safe string of 1 to 128 characters",
            )
        )
    values["external_id"] = external_id
    return values if len(errors) == before else {}


def create(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    def new_transfer(values: dict[str, Any], now: datetime) -> Transfer:
        transfer = Transfer(
            id=ws.ids.new(), fee=ws.config.transfer_fee, created=now, updated=now, **values
        )
        ws.transfers.add(transfer)
        ws.external_ids[transfer.external_id] = transfer.id
        simulation.track_transfer(ws, transfer)
        return transfer

    return create_batch(
        ws,
        request,
        "transfers",
        lambda item, where, now, errors: parse_transfer(ws, item, where, now, errors),
        new_transfer,
        refuse=lambda parsed: _reused_external_ids(ws, parsed),
    )


def _reused_external_ids(ws: Workspace, parsed: list[dict[str, Any]]) -> Errors:
    """One ``invalidExternalId`` per item whose ``externalId`` an earlier transfer or item has."""
    errors: Errors = []
    seen: set[str] = set()
    for index, values in enumerate(parsed):
        external_id = values.get("external_id")
        if not external_id:
            continue
        if external_id in ws.external_ids or external_id in seen:
            errors.append(
                (
                    "invalidExternalId",
                    f"transfers[{index}]: externalId {external_id!r} was already used; "
                    "it must be unique",
                )
            )
        seen.add(external_id)
    return errors


def query(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    q = request.query
    limit = parse_limit(q)
    after, before = parse_day(q, "after"), parse_day(q, "before")
    common = common_filters(q, TRANSFER_STATUSES)
    transaction_ids = parse_list(q, "transactionIds")
    tax_id = q.get("taxId") or None
    sort = q.get("sort") or "-created"
    if sort not in SORTS:
        raise ApiError.one("invalidSort", f"sort must be among {sorted(SORTS)}, got {sort!r}")

    def match(t: Transfer) -> bool:
        return (
            common(t)
            and (transaction_ids is None or not transaction_ids.isdisjoint(t.transaction_ids))
            and (
                tax_id is None
                or t.tax_id == tax_id
                or t.tax_id.replace(".", "").replace("-", "").replace("/", "") == tax_id
            )
            and within_days((t.created, t.updated), after, before)
        )

    items = ws.transfers.items
    if sort == "created":
        items = items[::-1]
    elif sort in ("updated", "-updated"):
        # Positions of a sorted copy: stable enough for paging through a quiet account.
        items = sorted(items, key=lambda t: t.updated, reverse=sort == "updated")
    found, cursor = page_of(items, match, limit, q.get("cursor"))
    return json_response({"transfers": [t.to_json() for t in found], "cursor": cursor})


def delete(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    transfer = TRANSFERS.find(ws, params["id"])
    simulation.cancel_transfer(ws, transfer)
    return json_response({"transfer": transfer.to_json()})


def pdf(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    transfer = TRANSFERS.find(ws, params["id"])
    if transfer.status not in ("processing", "success"):
        raise ApiError.one(
            "invalidTransfer",
            f"Transfer {transfer.id} is {transfer.status}: "
            "receipts exist for processing or success only",
        )
    return Response(body=documents.transfer_pdf(transfer.to_json()), content_type="application/pdf")
