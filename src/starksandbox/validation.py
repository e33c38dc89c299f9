"""Field checks shared by the resources: tax ids, amounts, datetimes, tags, lists.

Every check returns a value or appends ``(code, message)`` to an error list, so one request
reports one error per problem across a whole batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starksandbox.listing import BRAZIL

Errors = list[tuple[str, str]]

MAX_AMOUNT = 10**12
_NON_DIGITS = re.compile(r"\D")
_CPF_FORMAT = re.compile(r"^(\d{11}|\d{3}\.\d{3}\.\d{3}-\d{2})$")
_CNPJ_FORMAT = re.compile(r"^(\d{14}|\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2})$")


def _check_digit(digits: list[int], weights: list[int]) -> int:
    rest = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def _valid_tax_id(text: str, form: re.Pattern[str], weights: list[int]) -> bool:
    """A CPF or CNPJ in ``form`` whose two check digits are right: the first weighs the
    digits before it by ``weights[1:]``, the second those before it by ``weights``."""
    if not form.match(text):
        return False
    digits = [int(c) for c in _NON_DIGITS.sub("", text)]
    body = len(weights) - 1
    return len(set(digits)) > 1 and digits[body:] == [
        _check_digit(digits[:body], weights[1:]),
        _check_digit(digits[: body + 1], weights),
    ]


def valid_cpf(text: str) -> bool:
    return _valid_tax_id(text, _CPF_FORMAT, list(range(11, 1, -1)))


def valid_cnpj(text: str) -> bool:
    return _valid_tax_id(text, _CNPJ_FORMAT, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])


def format_tax_id(text: str) -> str:
    """The API's display form: ``012.345.678-90`` or ``20.018.183/0001-80``."""
    d = _NON_DIGITS.sub("", text)
    if len(d) == 11:
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_tax_id(value: Any, where: str, errors: Errors) -> str:
    if isinstance(value, str) and (valid_cpf(value) or valid_cnpj(value)):
        return format_tax_id(value)
    errors.append(
        (
            "invalidTaxId",
            f"{where}: taxId {value!r} is not a valid CPF or CNPJ (check digits included)",
        )
    )
    return ""


def check_amount(value: Any, where: str, errors: Errors, minimum: int) -> int:
    if is_int(value) and minimum <= value <= MAX_AMOUNT:
        return int(value)
    errors.append(
        (
            "invalidAmount",
            f"{where}: amount must be an integer number of cents from {minimum} to {MAX_AMOUNT}, "
            f"got {value!r}",
        )
    )
    return 0


def check_text(value: Any, code: str, field: str, where: str, errors: Errors) -> str:
    if isinstance(value, str) and value.strip():
        return value
    errors.append((code, f"{where}: {field} must be a non-empty string, got {value!r}"))
    return ""


def check_tags(value: Any, where: str, errors: Errors) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return [tag.lower() for tag in value]
    errors.append(("invalidTags", f"{where}: tags must be a list of strings, got {value!r}"))
    return []


def parse_moment(value: Any) -> tuple[datetime, bool] | None:
    """A date or datetime string as an aware UTC datetime and whether it was date-only.

    A date-only value is the end of that day in Brazil time. Naive datetimes are UTC.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            end = datetime.combine(day, time(23, 59, 59, 999999), BRAZIL)
            return end.astimezone(UTC), True
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def check_fields(
    item: dict[str, Any],
    known: frozenset[str],
    where: str,
    errors: Errors,
    required: tuple[str, ...] = (),
) -> bool:
    """Append one ``invalidJson`` per unknown field, then one per missing (or null) ``required``
    field; True when all required are present."""
    for name in sorted(set(item) - known):
        errors.append(("invalidJson", f"{where}: unknown field {name!r}"))
    missing = [name for name in required if item.get(name) is None]
    for name in missing:
        errors.append(("invalidJson", f"{where}: missing required field {name!r}"))
    return not missing


def check_rules(
    value: Any, key: str, valid: Callable[[Any], bool], shown: str, where: str, errors: Errors
) -> list[dict[str, Any]]:
    """``rules``: absent, or a list of ``{"key": key, "value": v}`` where ``valid(v)``;
    ``shown`` is how the refusal writes such a value."""
    if value is None:
        return []
    if isinstance(value, list) and all(
        isinstance(rule, dict)
        and set(rule) == {"key", "value"}
        and rule["key"] == key
        and valid(rule["value"])
        for rule in value
    ):
        return [dict(rule) for rule in value]
    errors.append(("invalidRule", f"{where}: rules must be [{{'key': '{key}', 'value': {shown}}}]"))
    return []


def brazil_today(now: datetime) -> date:
    return now.astimezone(BRAZIL).date()


GRACE = timedelta(minutes=5)
