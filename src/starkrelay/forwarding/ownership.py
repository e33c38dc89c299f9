"""Ownership before money: Stark Bank's credited record decides what a forward pays.

A stream entry is only a claim (a webhook body, or reconciliation's reading of it). Before
any transfer is created the worker reads, with our own credentials, the ``credited`` logs of
the batch's invoices and hands entries and logs to ``judge_ownership``. The rules:

- an invoice with no credited log in our workspace (unknown here, or never credited) is
  ``refused``: nothing is sent for it, ever;
- otherwise the forward pays what our workspace still holds for the invoice: the credited
  log's ``amount - fee``, less what its ``reversed`` logs gave back to the payer (the newest
  ``reversed`` log's invoice carries the amount left after every reversal), whatever the
  entry claimed; a different claim is kept as a ``mismatch`` to report, not as money;
- a record that leaves nothing positive (fee, or reversals) is ``skipped`` with its reason
  (recorded, never sent).

Pure: no I/O, so every rule is tested without Redis or the emulator.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from starkrelay.bank import InvoiceLog
from starkrelay.ledger.identity import ForwardItem

REFUSAL_REASONS = ("not_credited",)
"""Every reason a forward is refused (a bounded set: it labels a metric)."""


class Decision(enum.StrEnum):
    FORWARD = "forward"
    """Ours and credited: send ``item`` (its amounts are the record's)."""
    SKIP = "skip"
    """Ours and credited, but ``amount - fee`` is not positive: record, never send."""
    REFUSE = "refuse"
    """No credited record in our workspace: record ``refused``, never send."""


@dataclass(frozen=True)
class Credit:
    """Stark Bank's record of one credited invoice, from its ``credited`` log and any
    ``reversed`` logs."""

    invoice_id: str
    gross_amount: int
    fee: int
    log_id: str
    reversed: int = 0
    """Cents given back to the payer since the credit (``gross_amount`` minus the amount the
    newest ``reversed`` log leaves)."""

    @property
    def net(self) -> int:
        """What our workspace still holds for the invoice, less the fee."""
        return self.gross_amount - self.reversed - self.fee


@dataclass(frozen=True)
class OwnershipVerdict:
    """What to do with one entry. ``item`` carries the record's amounts when a credit was
    found (the claimed ones otherwise); ``claimed`` is the entry as enqueued."""

    decision: Decision
    item: ForwardItem
    claimed: ForwardItem
    reason: str = ""
    """For ``REFUSE``: one of ``REFUSAL_REASONS``."""
    detail: str = ""
    credit: Credit | None = None

    @property
    def mismatch(self) -> bool:
        """The entry claimed other numbers than Stark Bank's record (only with a credit)."""
        return self.credit is not None and (
            (self.claimed.amount, self.claimed.gross_amount, self.claimed.fee)
            != (self.item.amount, self.item.gross_amount, self.item.fee)
        )


def credits_by_invoice(logs: Iterable[InvoiceLog]) -> dict[str, Credit]:
    """One credit per invoice from ``credited`` and ``reversed`` logs listed newest first (the
    first credited log wins, as in reconciliation; the first ``reversed`` log carries what is
    left after every reversal); logs of other types are ignored."""
    found: dict[str, Credit] = {}
    left: dict[str, int] = {}
    for log in logs:
        invoice = log.invoice
        if log.type == "reversed":
            left.setdefault(invoice.id, invoice.amount)
        elif log.type == "credited":
            found.setdefault(invoice.id, Credit(invoice.id, invoice.amount, invoice.fee, log.id))
    return {
        invoice_id: replace(credit, reversed=max(0, credit.gross_amount - left[invoice_id]))
        if invoice_id in left
        else credit
        for invoice_id, credit in found.items()
    }


def judge_ownership(
    items: Sequence[ForwardItem], logs: Iterable[InvoiceLog]
) -> list[OwnershipVerdict]:
    """A verdict per item, in order, from the ``credited`` logs Stark Bank returned for them
    (read with our credentials, so only our workspace's invoices can appear)."""
    credits = credits_by_invoice(logs)
    verdicts = []
    for claimed in items:
        credit = credits.get(claimed.invoice_id)
        if credit is None:
            verdicts.append(
                OwnershipVerdict(
                    Decision.REFUSE,
                    claimed,
                    claimed,
                    reason="not_credited",
                    detail="Stark Bank has no credited log of this invoice in our workspace "
                    "(unknown invoice, or not credited)",
                )
            )
            continue
        item = replace(claimed, amount=credit.net, gross_amount=credit.gross_amount, fee=credit.fee)
        decision = Decision.FORWARD if credit.net > 0 else Decision.SKIP
        detail = ""
        if decision is Decision.SKIP:
            detail = (
                f"reversed {credit.reversed} of {credit.gross_amount}: nothing left to forward"
                if credit.reversed
                else "net amount is not positive"
            )
        verdicts.append(OwnershipVerdict(decision, item, claimed, detail=detail, credit=credit))
    return verdicts
