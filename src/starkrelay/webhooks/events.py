"""Typed view of a Stark Bank event, as sent in a webhook body or listed by ``GET /event``.

One parser for both paths, so a webhook and reconciliation's undelivered events are handled
identically. Only the fields starkrelay acts on are typed; unknown keys are ignored (the API
adds fields over time). Money fields are strict integers (cents): a string or float amount is
malformed, never coerced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

StarkId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_]{1,64}$")]
"""Ids are short decimal strings on the wire; anything else is refused before it names a key."""


class MalformedEvent(ValueError):
    """The content is not a Stark Bank event this service can read."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class InvoiceSnapshot(_Model):
    """The invoice as it was when its log was written."""

    id: StarkId
    amount: StrictInt
    fee: StrictInt = 0
    nominal_amount: StrictInt | None = Field(default=None, alias="nominalAmount")
    fine_amount: StrictInt = Field(default=0, alias="fineAmount")
    interest_amount: StrictInt = Field(default=0, alias="interestAmount")
    discount_amount: StrictInt = Field(default=0, alias="discountAmount")
    status: str | None = None
    tags: list[str] = Field(default_factory=list)


class TransferSnapshot(_Model):
    """The transfer as it was when its log was written."""

    id: StarkId
    amount: StrictInt
    status: str | None = None
    external_id: str | None = Field(default=None, alias="externalId")
    tags: list[str] = Field(default_factory=list)
    fee: StrictInt = 0


class InvoiceLog(_Model):
    id: StarkId
    type: str
    created: datetime
    errors: list[str] = Field(default_factory=list)
    invoice: InvoiceSnapshot


class TransferLog(_Model):
    id: StarkId
    type: str
    created: datetime
    errors: list[str] = Field(default_factory=list)
    transfer: TransferSnapshot


class _EventEnvelope(_Model):
    id: StarkId
    created: datetime
    subscription: str
    workspace_id: str | None = Field(default=None, alias="workspaceId")
    log: dict[str, Any]


class Event(_Model):
    """A verified Stark Bank event. Exactly one of `invoice_log` / `transfer_log` is set for
    the ``invoice`` and ``transfer`` subscriptions; other subscriptions carry neither."""

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


def parse_event(data: Mapping[str, Any]) -> Event:
    """Parse one event object (the value under ``"event"`` of a webhook body, or an item of
    ``GET /event``). Raises MalformedEvent naming the first problem."""
    try:
        envelope = _EventEnvelope.model_validate(data)
        invoice_log = transfer_log = None
        if envelope.subscription == "invoice":
            invoice_log = InvoiceLog.model_validate(envelope.log)
        elif envelope.subscription == "transfer":
            transfer_log = TransferLog.model_validate(envelope.log)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MalformedEvent(f"event field {where or '(root)'}: {first['msg']}") from exc
    log_type = envelope.log.get("type")
    return Event(
        id=envelope.id,
        created=envelope.created,
        subscription=envelope.subscription,
        workspace_id=envelope.workspace_id,
        log_type=log_type if isinstance(log_type, str) else None,
        invoice_log=invoice_log,
        transfer_log=transfer_log,
    )


def parse_webhook_body(body: bytes) -> Event:
    """Parse a webhook body ``{"event": {...}}``. Raises MalformedEvent."""
    try:
        document = json.loads(body, strict=False)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent("the body is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("event"), dict):
        raise MalformedEvent('the body is not an object with an "event" object')
    return parse_event(document["event"])
