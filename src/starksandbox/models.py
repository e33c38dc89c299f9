"""The emulator's entities and their wire (camelCase JSON) forms.

Snapshots taken for logs are the wire form at that moment; entities themselves are mutable
and only touched on the server's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starksandbox.clock import wire_datetime


@dataclass
class Discount:
    percentage: float
    due: datetime

    def to_json(self) -> dict[str, Any]:
        return {"percentage": self.percentage, "due": wire_datetime(self.due)}


@dataclass
class Invoice:
    id: str
    amount: int
    nominal_amount: int
    tax_id: str
    name: str
    due: datetime
    expiration: int
    fine: float
    interest: float
    discounts: list[Discount]
    rules: list[dict[str, Any]]
    splits: list[dict[str, Any]]
    tags: list[str]
    descriptions: list[dict[str, Any]]
    created: datetime
    updated: datetime
    uuid: str
    brcode: str
    base_url: str
    status: str = "created"
    fee: int = 0
    fine_amount: int = 0
    interest_amount: int = 0
    discount_amount: int = 0
    transaction_ids: list[str] = field(default_factory=list)
    paid_at: datetime | None = None
    payment: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": self.amount,
            "nominalAmount": self.nominal_amount,
            "fineAmount": self.fine_amount,
            "interestAmount": self.interest_amount,
            "discountAmount": self.discount_amount,
            "due": wire_datetime(self.due),
            "expiration": self.expiration,
            "fine": self.fine,
            "interest": self.interest,
            "discounts": [d.to_json() for d in self.discounts],
            "rules": [dict(r) for r in self.rules],
            "splits": [dict(s) for s in self.splits],
            "tags": list(self.tags),
            "descriptions": [dict(d) for d in self.descriptions],
            "name": self.name,
            "taxId": self.tax_id,
            "pdf": f"{self.base_url}/v2/invoice/{self.uuid}.pdf",
            "link": f"{self.base_url}/invoicelink/{self.uuid}",
            "brcode": self.brcode,
            "status": self.status,
            "fee": self.fee,
            "transactionIds": list(self.transaction_ids),
            "created": wire_datetime(self.created),
            "updated": wire_datetime(self.updated),
        }


@dataclass
class Transfer:
    id: str
    amount: int
    name: str
    tax_id: str
    bank_code: str
    branch_code: str
    account_number: str
    account_type: str
    external_id: str
    scheduled: datetime
    description: str
    display_description: str | None
    tags: list[str]
    rules: list[dict[str, Any]]
    fee: int
    created: datetime
    updated: datetime
    status: str = "created"
    transaction_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": self.amount,
            "name": self.name,
            "taxId": self.tax_id,
            "bankCode": self.bank_code,
            "branchCode": self.branch_code,
            "accountNumber": self.account_number,
            "accountType": self.account_type,
            "externalId": self.external_id,
            "scheduled": wire_datetime(self.scheduled),
            "description": self.description,
            "displayDescription": self.display_description,
            "tags": list(self.tags),
            "rules": [dict(r) for r in self.rules],
            "fee": self.fee,
            "status": self.status,
            "transactionIds": list(self.transaction_ids),
            "metadata": {},
            "created": wire_datetime(self.created),
            "updated": wire_datetime(self.updated),
        }


@dataclass
class Log:
    """A log of an invoice or a transfer; ``kind`` is ``invoice`` or ``transfer``."""

    id: str
    kind: str
    type: str
    errors: list[str]
    subject_id: str
    snapshot: dict[str, Any]
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": wire_datetime(self.created),
            "type": self.type,
            "errors": list(self.errors),
            self.kind: self.snapshot,
        }


@dataclass
class Webhook:
    id: str
    url: str
    subscriptions: list[str]
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "subscriptions": list(self.subscriptions)}


@dataclass
class Event:
    id: str
    subscription: str
    workspace_id: str
    log: dict[str, Any]
    created: datetime
    is_delivered: bool = False
    deleted: bool = False
    webhook_ids: list[str] = field(default_factory=list)
    delivered_to: set[str] = field(default_factory=set)

    def body(self) -> dict[str, Any]:
        """The delivered form: no ``isDelivered`` key, as real deliveries are."""
        return {
            "event": {
                "id": self.id,
                "created": wire_datetime(self.created),
                "log": self.log,
                "subscription": self.subscription,
                "workspaceId": self.workspace_id,
            }
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": wire_datetime(self.created),
            "isDelivered": self.is_delivered,
            "subscription": self.subscription,
            "workspaceId": self.workspace_id,
            "log": self.log,
        }


@dataclass
class Attempt:
    id: str
    code: str
    message: str
    event_id: str
    webhook_id: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "message": self.message,
            "eventId": self.event_id,
            "webhookId": self.webhook_id,
            "created": wire_datetime(self.created),
        }
