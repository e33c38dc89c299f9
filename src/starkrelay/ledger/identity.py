"""What one forward is: the invoice it pays out, how much, and the ids that make it unique.

The identity rules here are the core of exactly-once: attempt 0 of invoice ``I`` is always
``external_id = invoice-I`` and tag ``invoice:I``; a re-send after Stark Bank confirmed the
previous attempt ``failed`` is attempt ``n`` with ``external_id = invoice-I-r<n>`` (same tag).
Stark Bank refuses a second transfer with an ``external_id`` it has seen, so however many
times an item is delivered to a worker, each attempt can create at most one transfer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


class CreditedInvoice(Protocol):
    """What a forward needs of a credited invoice (a webhook's or Stark Bank's own record)."""

    @property
    def id(self) -> str: ...

    @property
    def amount(self) -> int: ...

    @property
    def fee(self) -> int: ...


_EXTERNAL_ID = re.compile(r"^invoice-(?P<invoice>[0-9A-Za-z_]+)(?:-r(?P<attempt>[1-9][0-9]*))?$")


def forward_amount(invoice: CreditedInvoice) -> int:
    """Cents to forward for a credited invoice: what was paid minus Stark Bank's fee.

    ``amount`` in a ``credited`` log already includes discounts, fines and interest. A result
    of zero or less is recorded by the caller and never sent (transfers need amount > 0).
    """
    return invoice.amount - invoice.fee


def external_id_for(invoice_id: str, attempt: int = 0) -> str:
    """The transfer ``external_id`` of attempt `attempt` (0 = first send) for `invoice_id`."""
    return f"invoice-{invoice_id}" if attempt == 0 else f"invoice-{invoice_id}-r{attempt}"


def tag_for(invoice_id: str) -> str:
    """The tag every forward transfer of `invoice_id` carries (all attempts share it)."""
    return f"invoice:{invoice_id}"


BALANCE_CODE = "invalidbalance"
"""Stark Bank's code (any case) for a transfer the balance could not cover: ``invalidBalance``
refusing a create, ``invalidbalance`` in a ``failed`` transfer log's errors."""


def is_balance_failure(errors: Iterable[str]) -> bool:
    """True when Stark Bank's errors say the balance could not cover the transfer."""
    return any(error.strip().lower() == BALANCE_CODE for error in errors)


def parse_external_id(external_id: str | None) -> tuple[str, int] | None:
    """(invoice_id, attempt) of a forward transfer's ``external_id``; None if not ours."""
    if not external_id:
        return None
    match = _EXTERNAL_ID.match(external_id)
    if match is None:
        return None
    return match["invoice"], int(match["attempt"] or 0)


@dataclass(frozen=True)
class ForwardItem:
    """One entry of the forward stream: send `amount` cents for `invoice_id`, attempt `attempt`."""

    invoice_id: str
    amount: int
    gross_amount: int
    fee: int
    attempt: int = 0
    source: str = "webhook"
    """Who enqueued it: ``webhook``, ``reconcile``, ``resend``, ``requeue`` (a lost entry
    added again by reconciliation, same attempt), ``balance`` (released from ``waiting``
    once the balance covered it), ``approval`` (a person approved it out of ``held``) or
    ``next_day`` (a new day's budget released it from ``held``)."""

    @property
    def external_id(self) -> str:
        return external_id_for(self.invoice_id, self.attempt)

    @property
    def tag(self) -> str:
        return tag_for(self.invoice_id)

    def to_fields(self) -> dict[str, str]:
        return {
            "invoice_id": self.invoice_id,
            "amount": str(self.amount),
            "gross_amount": str(self.gross_amount),
            "fee": str(self.fee),
            "attempt": str(self.attempt),
            "source": self.source,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> ForwardItem:
        """Rebuild an item from stream fields. Raises ValueError naming a missing/bad field."""
        try:
            return cls(
                invoice_id=fields["invoice_id"],
                amount=int(fields["amount"]),
                gross_amount=int(fields["gross_amount"]),
                fee=int(fields["fee"]),
                attempt=int(fields.get("attempt", "0")),
                source=fields.get("source", "webhook"),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"forward stream entry is unreadable: {exc!r}") from exc

    @classmethod
    def from_credited(
        cls, invoice: CreditedInvoice, *, source: str = "webhook", attempt: int = 0
    ) -> ForwardItem:
        return cls(
            invoice_id=invoice.id,
            amount=forward_amount(invoice),
            gross_amount=invoice.amount,
            fee=invoice.fee,
            attempt=attempt,
            source=source,
        )
