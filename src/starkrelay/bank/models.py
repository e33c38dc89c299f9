"""Typed values the bank gateway takes and returns; no ``starkbank`` object leaves ``bank/``.

Amounts are integer cents (BRL). Datetimes are timezone-aware UTC. Tags come back lower-cased
(the API lower-cases them), so build tags in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ProviderError:
    """One ``{code, message}`` element of a Stark Bank 400 response."""

    code: str
    message: str


@dataclass(frozen=True)
class NewInvoice:
    """An invoice to create. ``due`` is UTC; ``expiration`` is seconds after ``due``."""

    amount: int
    tax_id: str
    name: str
    due: datetime
    expiration: int
    tags: tuple[str, ...] = ()
    discounts: tuple[Discount, ...] = ()


@dataclass(frozen=True)
class Discount:
    """``percentage`` of the nominal amount off when paid up to ``due`` (UTC)."""

    percentage: float
    due: datetime


@dataclass(frozen=True)
class Invoice:
    """An invoice as Stark Bank reports it."""

    id: str
    amount: int
    nominal_amount: int
    fee: int
    status: str
    name: str
    tax_id: str
    tags: tuple[str, ...]
    due: datetime | None
    expiration: int | None
    created: datetime | None
    updated: datetime | None
    discount_amount: int = 0
    """Cents taken off ``nominal_amount`` for paying early (in ``amount``)."""
    fine_amount: int = 0
    """Cents of fine added for paying late (in ``amount``)."""
    interest_amount: int = 0
    """Cents of interest added for paying late (in ``amount``)."""


@dataclass(frozen=True)
class _Log:
    """One change of an invoice or a transfer, as Stark Bank logs it."""

    id: str
    type: str
    created: datetime | None
    errors: tuple[str, ...]


@dataclass(frozen=True)
class InvoiceLog(_Log):
    """One change of an invoice (``created``, ``paid``, ``credited``, ...) with its snapshot."""

    invoice: Invoice


@dataclass(frozen=True)
class NewTransfer:
    """A transfer to create. ``external_id`` is the provider-side idempotency key."""

    amount: int
    name: str
    tax_id: str
    bank_code: str
    branch_code: str
    account_number: str
    account_type: str
    external_id: str
    tags: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Transfer:
    """A transfer as Stark Bank reports it."""

    id: str
    amount: int
    name: str
    tax_id: str
    bank_code: str
    branch_code: str
    account_number: str
    account_type: str | None
    external_id: str | None
    status: str
    fee: int
    tags: tuple[str, ...]
    created: datetime | None
    updated: datetime | None


@dataclass(frozen=True)
class TransferLog(_Log):
    """One change of a transfer (``created``, ``processing``, ``success``, ``failed``, ...)."""

    transfer: Transfer


@dataclass(frozen=True)
class Webhook:
    """A registered webhook subscription."""

    id: str
    url: str
    subscriptions: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Balance:
    """The workspace balance in cents."""

    amount: int
    currency: str
    updated: datetime | None
