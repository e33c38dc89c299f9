"""One invoice's story: every step from issue to settled transfer, in time order, each with
its time and its source.

Sources: ``stark_bank`` (Stark Bank's own records: the invoice, its logs, the forward
transfers and their logs), ``webhook`` (deliveries received, duplicates included) and
``starkrelay`` (our ledger: enqueued, dead-lettered, re-driven, reconciliation actions).
``assemble_story`` is pure: it takes what was read and returns the timeline, so it is tested
without any server; ``story_steps`` makes each step; ``story_sources.gather_story`` reads
the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from starkrelay.console.story_steps import (
    StoryInputs,
    StoryItem,
    delivery_item,
    invoice_log_item,
    issued_item,
    ledger_items,
    transfer_items,
)
from starkrelay.forwarding.transfers import Destination

__all__ = ["Story", "StoryInputs", "StoryItem", "assemble_story"]

_RANK = {
    "issued": 0,
    "invoice_log": 1,
    "paid": 2,
    "credited": 3,
    "webhook": 4,
    "reconcile": 5,
    "enqueued": 6,
    "transfer": 7,
    "transfer_log": 8,
    "dead_letter": 9,
    "redriven": 10,
    "requeued": 11,
    "skipped": 12,
    "waiting": 12,
    "held": 12,
    "released": 13,
    "approved": 13,
    "rejected": 13,
}


@dataclass(frozen=True)
class Story:
    invoice_id: str
    summary: dict[str, str | int | None]
    items: list[StoryItem]
    problems: list[str]
    destination: dict[str, str] = field(default_factory=dict)
    """The account the forward pays: the transfer's own (``source`` ``transfer``) once there
    is one, else the configured destination (``source`` ``settings``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoice_id": self.invoice_id,
            "summary": self.summary,
            "destination": self.destination,
            "items": [item.as_dict() for item in self.items],
            "problems": self.problems,
        }


def _destination(inputs: StoryInputs) -> dict[str, str]:
    """The account of the invoice's settled transfer, else its latest, else the settings'."""
    ordered = sorted(
        inputs.transfers,
        key=lambda t: (t.status == "success", t.created.timestamp() if t.created else 0),
    )
    if ordered:
        paid = ordered[-1]
        account = {f.name: getattr(paid, f.name) or "" for f in fields(Destination)}
        return account | {"source": "transfer", "transfer_id": paid.id}
    return inputs.destination | {"source": "settings"} if inputs.destination else {}


def _summary(inputs: StoryInputs) -> dict[str, str | int | None]:
    ledger, invoice = inputs.ledger, inputs.invoice
    successes = [t for t in inputs.transfers if t.status == "success"]
    duplicates = sum(1 for d in inputs.deliveries if d.get("outcome") == "duplicate")
    return {
        "status": invoice.status if invoice else None,
        "payer": invoice.name if invoice else None,
        "nominal_amount": invoice.nominal_amount if invoice else None,
        "paid_amount": int(ledger["gross_amount"]) if "gross_amount" in ledger else None,
        "fee": int(ledger["fee"]) if "fee" in ledger else None,
        "net": int(ledger["amount"]) if "amount" in ledger else None,
        "stage": ledger.get("stage"),
        "attempt": int(ledger["attempt"]) if "attempt" in ledger else None,
        "last_error": ledger.get("last_error") or ledger.get("dead_reason"),
        "last_error_resolved": "yes" if ledger.get("stage") == "success" or successes else None,
        "transfers": len(inputs.transfers),
        "forwarded": sum(t.amount for t in successes),
        "deliveries": len(inputs.deliveries),
        "duplicates_refused": duplicates,
        "dead_letters": len(inputs.dead_letters),
    }


def assemble_story(inputs: StoryInputs) -> Story:
    """The timeline of ``inputs``: oldest first; steps at the same instant in the money's
    order (issued, paid, credited, delivered, enqueued, transferred, ...); steps without a
    time last."""
    items: list[StoryItem] = []
    if inputs.invoice is not None:
        items.append(issued_item(inputs.invoice))
    items += [item for log in inputs.invoice_logs if (item := invoice_log_item(log)) is not None]
    items += [delivery_item(d) for d in inputs.deliveries]
    items += ledger_items(inputs)
    items += transfer_items(inputs)
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            item.at is None,
            item.at.timestamp() if item.at else 0.0,
            _RANK.get(item.kind, 99),
            order[id(item)],
        )
    )
    return Story(
        inputs.invoice_id, _summary(inputs), items, list(inputs.problems), _destination(inputs)
    )
