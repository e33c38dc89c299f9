"""Typed view of a Stark Bank event, as sent in a webhook body or listed by ``GET /event``.

One parser for both paths, so a webhook and reconciliation's undelivered events are handled
identically. Only the fields starkrelay acts on are typed; unknown keys are ignored (the API
adds fields over time). Validation is strict, so nothing odd is stored, counted or compared:

- money fields are integers (cents) from 0 to 10^15: a string, float or huge amount is
  malformed, never coerced;
- every date-time is an ISO 8601 string with a time zone (a naive one or a bare date is
  malformed), within the calendar's range in UTC;
- every kept string is short (ids 64, subscriptions and log types 64, others 256 characters)
  and encodes as UTF-8 (a lone surrogate is malformed); lists of tags and errors are bounded;
- subscriptions and log types not in ``LOG_TYPES_ACTED_ON`` parse (the event is acknowledged
  and ignored) but carry no typed log, and show as ``other`` in metric labels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)

SUBSCRIPTIONS_ACTED_ON: Final = frozenset({"invoice", "transfer"})
"""Subscriptions whose logs are typed and acted on; any other is acknowledged and ignored."""

LOG_TYPES_ACTED_ON: Final[Mapping[str, frozenset[str]]] = {
    "invoice": frozenset(
        {
            "created", "registered", "paid", "credited", "canceled", "overdue", "expired",
            "reversed", "reversing", "updated", "voided",
        }
    ),
    "transfer": frozenset({"created", "processing", "sending", "success", "failed", "canceled"}),
}  # fmt: skip
"""Log types of each subscription that are typed and acted on; any other is ignored."""

OTHER: Final = "other"
"""The one label value (metrics) for every subscription or log type not acted on."""

MAX_TEXT_CHARS: Final = 256
MAX_TAGS: Final = 100
MAX_ERRORS: Final = 100


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("expected text that encodes as UTF-8 (no lone surrogates)") from None
    return value


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string with a time zone")
    return value


def _in_utc_range(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("expected a date-time within the calendar's range in UTC") from None
    return value


Text = Annotated[
    StrictStr, StringConstraints(max_length=MAX_TEXT_CHARS), AfterValidator(_encodable)
]
"""A short string that encodes: anything longer or unencodable is refused, never stored."""

Name = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_encodable),
]
"""A subscription or log type: 1-64 characters that encode."""

EventTime = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_in_utc_range)]
"""A date-time with its time zone; a naive one or a bare date is refused."""

Cents = Annotated[StrictInt, Field(ge=0, le=10**15)]
"""An amount in cents: an integer, never negative, never absurd."""

StarkId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_]{1,64}$")]
"""Ids are short decimal strings on the wire; anything else is refused before it names a key."""


class MalformedEvent(ValueError):
    """The content is not a Stark Bank event this service can read. The message never
    echoes the input (it names the field and what was expected)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class InvoiceSnapshot(_Model):
    """The invoice as it was when its log was written."""

    id: StarkId
    amount: Cents
    fee: Cents = 0
    nominal_amount: Cents | None = Field(default=None, alias="nominalAmount")
    fine_amount: Cents = Field(default=0, alias="fineAmount")
    interest_amount: Cents = Field(default=0, alias="interestAmount")
    discount_amount: Cents = Field(default=0, alias="discountAmount")
    status: Text | None = None
    tags: list[Text] = Field(default_factory=list, max_length=MAX_TAGS)


class TransferSnapshot(_Model):
    """The transfer as it was when its log was written."""

    id: StarkId
    amount: Cents
    status: Text | None = None
    external_id: Text | None = Field(default=None, alias="externalId")
    tags: list[Text] = Field(default_factory=list, max_length=MAX_TAGS)
    fee: Cents = 0


class InvoiceLog(_Model):
    id: StarkId
    type: Name
    created: EventTime
    errors: list[Text] = Field(default_factory=list, max_length=MAX_ERRORS)
    invoice: InvoiceSnapshot


class TransferLog(_Model):
    id: StarkId
    type: Name
    created: EventTime
    errors: list[Text] = Field(default_factory=list, max_length=MAX_ERRORS)
    transfer: TransferSnapshot


class _LogHead(_Model):
    type: Name


class _EventEnvelope(_Model):
    id: StarkId
    created: EventTime
    subscription: Name
    workspace_id: StarkId | None = Field(default=None, alias="workspaceId")
    log: dict[str, Any]


class Event(_Model):
    """A verified Stark Bank event, every string in it short and encodable, every date-time
    aware. `invoice_log` / `transfer_log` is set only for a subscription and log type in
    ``LOG_TYPES_ACTED_ON``; any other event carries neither and is only acknowledged."""

    id: str
    created: datetime
    subscription: str
    workspace_id: str | None
    log_type: str | None
    invoice_log: InvoiceLog | None = None
    transfer_log: TransferLog | None = None

    @property
    def is_credited_invoice(self) -> bool:
        return self.invoice_log is not None and self.invoice_log.type == "credited"

    @property
    def latest_created(self) -> datetime:
        """The later of the event's and its typed log's ``created``."""
        log = self.invoice_log or self.transfer_log
        return self.created if log is None else max(self.created, log.created)

    @property
    def metric_subscription(self) -> str:
        """The subscription as a metric label: one of ``SUBSCRIPTIONS_ACTED_ON`` or ``other``."""
        return self.subscription if self.subscription in SUBSCRIPTIONS_ACTED_ON else OTHER

    @property
    def metric_log_type(self) -> str:
        """The log type as a metric label: one of ``LOG_TYPES_ACTED_ON`` or ``other``."""
        known = LOG_TYPES_ACTED_ON.get(self.subscription, frozenset())
        return self.log_type if self.log_type in known else OTHER


def parse_event(data: Mapping[str, Any]) -> Event:
    """Parse one event object (the value under ``"event"`` of a webhook body, or an item of
    ``GET /event``). Raises MalformedEvent naming the first problem, never echoing input."""
    try:
        envelope = _EventEnvelope.model_validate(data)
    except ValidationError as exc:
        raise MalformedEvent(_first_problem(exc)) from exc
    try:
        log_type = _LogHead.model_validate(envelope.log).type
        invoice_log = transfer_log = None
        if log_type in LOG_TYPES_ACTED_ON.get(envelope.subscription, frozenset()):
            if envelope.subscription == "invoice":
                invoice_log = InvoiceLog.model_validate(envelope.log)
            elif envelope.subscription == "transfer":
                transfer_log = TransferLog.model_validate(envelope.log)
    except ValidationError as exc:
        raise MalformedEvent(_first_problem(exc, "log")) from exc
    # every field was validated above: built without validating it all again
    return Event.model_construct(
        id=envelope.id,
        created=envelope.created,
        subscription=envelope.subscription,
        workspace_id=envelope.workspace_id,
        log_type=log_type,
        invoice_log=invoice_log,
        transfer_log=transfer_log,
    )


def _first_problem(exc: ValidationError, *within: str) -> str:
    """``event field <path>: <what was expected>``; only field names and indices from the
    model, so nothing of the input (which may not even encode) reaches a response or log."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in (*within, *first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    text = f"event field {where or '(root)'}: {message}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:300]


def parse_webhook_body(body: bytes) -> Event:
    """Parse a webhook body ``{"event": {...}}``. Raises MalformedEvent."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # what orjson refuses (control characters in strings, lone surrogates, integers over
        # 64 bits, NaN, nesting over 1024) is read as the standard library reads it
        try:
            document = json.loads(body, strict=False)
        except (ValueError, RecursionError) as exc:
            raise MalformedEvent("the body is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("event"), dict):
        raise MalformedEvent('the body is not an object with an "event" object')
    return parse_event(document["event"])


def webhook_body_schema() -> dict[str, Any]:
    """The JSON schema of a webhook body as ``parse_webhook_body`` reads it (for the API docs)."""
    event = _EventEnvelope.model_json_schema(by_alias=True)
    return {"type": "object", "required": ["event"], "properties": {"event": event}}
