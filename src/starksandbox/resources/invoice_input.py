"""Validation of invoice create items and PATCH bodies (section 8 of the wire notes).

Each problem is one ``(code, message)``; the caller refuses the whole batch if any exist.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from starksandbox import validation
from starksandbox.models import Discount
from starksandbox.validation import Errors

INVOICE_FIELDS = frozenset(
    {
        "amount",
        "taxId",
        "name",
        "due",
        "expiration",
        "fine",
        "interest",
        "discounts",
        "rules",
        "splits",
        "tags",
        "descriptions",
    }
)
DEFAULT_DUE = timedelta(days=2)
DEFAULT_EXPIRATION = 5_097_600
MAX_FINE = 20.0
MAX_INTEREST = 10.0
MAX_DISCOUNTS = 5


def parse_invoice(item: Any, where: str, now: datetime, errors: Errors) -> dict[str, Any]:
    """A valid item as keyword values for ``Invoice`` (minus generated fields), or ``{}``."""
    if not isinstance(item, dict):
        errors.append(("invalidJson", f"{where}: each invoice must be a JSON object"))
        return {}
    before = len(errors)
    validation.check_fields(
        item, INVOICE_FIELDS, where, errors, required=("amount", "taxId", "name")
    )
    values: dict[str, Any] = {}
    if "amount" in item and item["amount"] is not None:
        values["amount"] = validation.check_amount(item["amount"], where, errors, minimum=0)
    if item.get("taxId") is not None:
        values["tax_id"] = validation.check_tax_id(item["taxId"], where, errors)
    if item.get("name") is not None:
        values["name"] = validation.check_text(item["name"], "invalidName", "name", where, errors)
    due = now + DEFAULT_DUE
    if item.get("due") is not None:
        moment = validation.parse_moment(item["due"])
        if moment is None:
            errors.append(
                ("invalidDate", f"{where}: due must be a date or a datetime, got {item['due']!r}")
            )
        else:
            due = moment[0]
    values["due"] = due
    values["expiration"] = _expiration(item.get("expiration"), where, errors)
    values["fine"] = _percentage(
        item.get("fine"), 2.0, MAX_FINE, "invalidFine", "fine", where, errors
    )
    values["interest"] = _percentage(
        item.get("interest"), 1.0, MAX_INTEREST, "invalidInterest", "interest", where, errors
    )
    values["discounts"] = _discounts(item.get("discounts"), due, now, where, errors)
    values["descriptions"] = _descriptions(item.get("descriptions"), where, errors)
    values["tags"] = validation.check_tags(item.get("tags"), where, errors)
    values["rules"] = validation.check_rules(
        item.get("rules"), "allowedTaxIds", lambda v: isinstance(v, list), "[...]", where, errors
    )
    values["splits"] = _splits(item.get("splits"), values.get("amount", 0), where, errors)
    return values if len(errors) == before else {}


def _expiration(value: Any, where: str, errors: Errors) -> int:
    if value is None:
        return DEFAULT_EXPIRATION
    if validation.is_int(value) and value >= 0:
        return int(value)
    errors.append(
        ("invalidExpiration", f"{where}: expiration must be whole seconds >= 0, got {value!r}")
    )
    return 0


def _percentage(
    value: Any,
    default: float,
    ceiling: float,
    code: str,
    name: str,
    where: str,
    errors: Errors,
) -> float:
    if value is None:
        return default
    if validation.is_number(value) and 0 <= value <= ceiling:
        return float(value)
    errors.append(
        (code, f"{where}: {name} must be a percentage from 0 to {ceiling:g}, got {value!r}")
    )
    return default


def _discounts(
    value: Any, due: datetime, now: datetime, where: str, errors: Errors
) -> list[Discount]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DISCOUNTS:
        errors.append(
            (
                "invalidDiscount",
                f"{where}: discounts must be a list of at most {MAX_DISCOUNTS} items",
            )
        )
        return []
    parsed: list[Discount] = []
    for index, entry in enumerate(value):
        at = f"{where}.discounts[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"percentage", "due"}:
            errors.append(("invalidDiscount", f"{at}: a discount is exactly {{percentage, due}}"))
            continue
        percentage = entry["percentage"]
        if not validation.is_number(percentage) or not 0 < percentage <= 100:
            errors.append(
                (
                    "invalidDiscount",
                    f"{at}: percentage must be above 0 and at most 100, got {percentage!r}",
                )
            )
            continue
        moment = validation.parse_moment(entry["due"])
        if moment is None:
            errors.append(
                (
                    "invalidDiscountDate",
                    f"{at}: due must be a date or datetime, got {entry['due']!r}",
                )
            )
            continue
        when = moment[0]
        if validation.brazil_today(when) < validation.brazil_today(now) or when > due:
            errors.append(
                ("invalidDiscountDate", f"{at}: due must be from today up to the invoice due date")
            )
            continue
        parsed.append(Discount(float(percentage), when))
    ordered = sorted(parsed, key=lambda d: d.due)
    for earlier, later in itertools.pairwise(ordered):
        if later.due == earlier.due or later.percentage >= earlier.percentage:
            errors.append(
                (
                    "invalidDiscount",
                    f"{where}: discount percentages must strictly decrease as dates go by",
                )
            )
            break
    return ordered


def _descriptions(value: Any, where: str, errors: Errors) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(
            ("invalidDescription", f"{where}: descriptions must be a list of {{key, value}}")
        )
        return []
    parsed: list[dict[str, Any]] = []
    for index, entry in enumerate(value):
        at = f"{where}.descriptions[{index}]"
        if (
            not isinstance(entry, dict)
            or not set(entry) <= {"key", "value"}
            or not isinstance(entry.get("key"), str)
            or not entry["key"]
        ):
            errors.append(
                (
                    "invalidDescription",
                    f"{at}: a description needs a string key and an optional string value",
                )
            )
            continue
        text = entry.get("value")
        if text in (None, "", 0, [], {}):
            parsed.append({"key": entry["key"]})
        elif isinstance(text, str):
            parsed.append({"key": entry["key"], "value": text})
        else:
            errors.append(("invalidDescription", f"{at}: value must be a string, got {text!r}"))
    return parsed


def _splits(value: Any, amount: int, where: str, errors: Errors) -> list[dict[str, Any]]:
    if value is None:
        return []
    if (
        isinstance(value, list)
        and all(
            isinstance(split, dict)
            and validation.is_int(split.get("amount"))
            and split["amount"] > 0
            and isinstance(split.get("receiverId"), str)
            for split in value
        )
        and (sum(split["amount"] for split in value) <= amount or amount == 0)
    ):
        return [{"amount": s["amount"], "receiverId": s["receiverId"]} for s in value]
    errors.append(
        (
            "invalidSplit",
            f"{where}: splits must be [{{amount, receiverId}}] adding up to at most the amount",
        )
    )
    return []


def parse_patch(body: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """The PATCH fields given: ``status`` (only "canceled"), ``amount``, ``due``, ``expiration``."""
    validation.check_fields(
        body, frozenset({"status", "amount", "due", "expiration"}), "invoice", errors
    )
    changes: dict[str, Any] = {}
    if body.get("status") is not None:
        if body["status"] != "canceled":
            errors.append(
                ("invalidStatus", f"status can only be set to 'canceled', got {body['status']!r}")
            )
        changes["status"] = body["status"]
    if body.get("amount") is not None:
        changes["amount"] = validation.check_amount(body["amount"], "invoice", errors, minimum=0)
    if body.get("due") is not None:
        moment = validation.parse_moment(body["due"])
        if moment is None:
            errors.append(("invalidDate", f"due must be a date or a datetime, got {body['due']!r}"))
        else:
            changes["due"] = moment[0]
    if body.get("expiration") is not None:
        changes["expiration"] = _expiration(body["expiration"], "invoice", errors)
    return changes
