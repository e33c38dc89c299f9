"""What each record of one invoice becomes in its story: one ``StoryItem`` (a step) per
Stark Bank record (the invoice, its logs, the forward transfers and their logs), per webhook
delivery, and per thing starkrelay's ledger did (enqueued, dead-lettered, re-driven,
re-enqueued, waiting, skipped; held over a limit, released by a new day, approved or rejected
by a person, with who and when). Pure; ``story.assemble_story`` puts them in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starkrelay.bank import Invoice, InvoiceLog, Transfer, TransferLog
from starkrelay.console.render import to_datetime
from starkrelay.core.money import brl
from starkrelay.forwarding.dead_letters import DeadLetter
from starkrelay.ledger.identity import external_id_for, parse_external_id

_SLOT_TAG = re.compile(r"^campaign:(?P<campaign>[^:]+):slot:(?P<slot>\d+)$")

LIMITS = {
    "max_amount": "the most one forward may send (FORWARD_MAX_AMOUNT)",
    "daily_limit": "the day's budget (FORWARD_DAILY_LIMIT)",
    "hourly_count": "the forwards allowed in one hour (FORWARD_HOURLY_COUNT)",
}
"""What each limit is, as people read it."""

Details = dict[str, str | int]


@dataclass(frozen=True)
class StoryItem:
    """One step. ``at`` is UTC (None when the record carries no time: listed last)."""

    at: datetime | None
    source: str
    kind: str
    title: str
    details: Details = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() if self.at else None,
            "source": self.source,
            "kind": self.kind,
            "title": self.title,
            "details": self.details,
        }


@dataclass(frozen=True)
class StoryInputs:
    """Everything read about one invoice (any part may be empty)."""

    invoice_id: str
    invoice: Invoice | None = None
    invoice_logs: list[InvoiceLog] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    transfer_logs: list[TransferLog] = field(default_factory=list)
    ledger: dict[str, str] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    entries_in_stream: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    """What could not be read (e.g. Stark Bank unavailable): shown above the timeline."""
    destination: dict[str, str] = field(default_factory=dict)
    """The configured destination account (shown until a transfer names the one it paid)."""


def _ours(
    at: str | float | None, kind: str, title: str, details: Details | None = None
) -> StoryItem:
    """A step of starkrelay's own, at the time its ledger keeps (epoch seconds)."""
    return StoryItem(to_datetime(at), "starkrelay", kind, title, details or {})


def _attempts(ledger: dict[str, str], prefix: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for name, value in ledger.items():
        if name.startswith(prefix + ":"):
            suffix = name[len(prefix) + 1 :]
            if suffix.isdigit():
                found[int(suffix)] = value
    return found


def issued_item(invoice: Invoice) -> StoryItem:
    details: Details = {
        "amount": invoice.nominal_amount,
        "payer": invoice.name,
        "tax_id": invoice.tax_id,
        "status": invoice.status,
    }
    if invoice.due is not None:
        details["due"] = invoice.due.isoformat()
    where = ""
    for tag in invoice.tags:
        if match := _SLOT_TAG.match(tag):
            details["campaign"], details["slot"] = match["campaign"], int(match["slot"])
            where = f" (campaign slot {match['slot']})"
    return StoryItem(
        invoice.created,
        "stark_bank",
        "issued",
        f"Issued for {brl(invoice.nominal_amount)} to {invoice.name}{where}",
        details,
    )


def invoice_log_item(entry: InvoiceLog) -> StoryItem | None:
    snap = entry.invoice
    if entry.type == "created":
        return None  # the "issued" item says it, from the invoice itself
    if entry.type == "paid":
        parts = {
            "discount": snap.discount_amount,
            "fine": snap.fine_amount,
            "interest": snap.interest_amount,
        }
        extra = [f"{name} {brl(cents)}" for name, cents in parts.items() if cents]
        difference = snap.amount - snap.nominal_amount
        if not extra and difference:
            extra.append(f"{'discount' if difference < 0 else 'fine and interest'} "
                         f"{brl(abs(difference))}")  # fmt: skip
        suffix = f" ({', '.join(extra)})" if extra else ""
        return StoryItem(
            entry.created,
            "stark_bank",
            "paid",
            f"Paid {brl(snap.amount)} of {brl(snap.nominal_amount)}{suffix}",
            {
                "log_id": entry.id,
                "amount": snap.amount,
                "nominal_amount": snap.nominal_amount,
                "discount_amount": snap.discount_amount,
                "fine_amount": snap.fine_amount,
                "interest_amount": snap.interest_amount,
            },
        )
    if entry.type == "credited":
        return StoryItem(
            entry.created,
            "stark_bank",
            "credited",
            f"Credited {brl(snap.amount)}, fee {brl(snap.fee)}: "
            f"{brl(snap.amount - snap.fee)} to forward",
            {"log_id": entry.id, "amount": snap.amount, "fee": snap.fee},
        )
    details: Details = {"log_id": entry.id}
    if entry.errors:
        details["errors"] = "; ".join(entry.errors)
    return StoryItem(entry.created, "stark_bank", "invoice_log", f"Invoice {entry.type}", details)


def delivery_item(delivery: dict[str, Any]) -> StoryItem:
    outcome = str(delivery.get("outcome", ""))
    log_type = str(delivery.get("log_type") or "event")
    subscription = str(delivery.get("subscription") or "")
    by_reconcile = delivery.get("source") == "reconcile"
    what = f"{subscription} {log_type}".strip()
    if by_reconcile:
        title = f"Reconciliation took the undelivered {what} event: {outcome.replace('_', ' ')}"
    elif outcome == "duplicate":
        title = f"Webhook {what} delivered again: refused as a duplicate"
    else:
        title = f"Webhook {what} received: {outcome.replace('_', ' ')}"
    return StoryItem(
        to_datetime(delivery.get("at")),
        "starkrelay" if by_reconcile else "webhook",
        "reconcile" if by_reconcile else "webhook",
        title,
        {
            "event_id": str(delivery.get("event_id", "")),
            "outcome": outcome,
            "log_type": log_type,
        },
    )


def ledger_items(inputs: StoryInputs) -> list[StoryItem]:
    ledger = inputs.ledger
    items: list[StoryItem] = []
    entries = _attempts(ledger, "entry")
    for attempt, at in _attempts(ledger, "queued").items():
        entry = entries.get(attempt, "")
        # an acknowledged entry stays in the stream until trimmed: only a queued one waits
        queued_now = ledger.get("stage") == "queued" and ledger.get("attempt") == str(attempt)
        in_stream = queued_now and entry in inputs.entries_in_stream
        waiting = " (waiting in the forward stream)" if in_stream else ""
        by = " by reconciliation, after the previous attempt failed" if attempt else ""
        title = f"Forward of {brl(ledger.get('amount'))} enqueued{by}{waiting}"
        external_id = external_id_for(inputs.invoice_id, attempt)
        details: Details = {"attempt": attempt, "external_id": external_id, "stream_entry": entry}
        items.append(_ours(at, "enqueued", title, details))
    lost = _attempts(ledger, "lost_entry")
    redriven = _attempts(ledger, "redriven")
    for attempt, at in _attempts(ledger, "requeued").items():
        if attempt in lost and redriven.get(attempt) != at:  # else the re-drive item tells it
            title = "Reconciliation re-enqueued a forward entry Redis lost (same attempt)"
            details = {"attempt": attempt, "lost_entry": lost[attempt]}
            items.append(_ours(at, "requeued", title, details))
    letters = _attempts(ledger, "redriven_dead_letter")
    for attempt, at in redriven.items():
        details = {"attempt": attempt, "external_id": external_id_for(inputs.invoice_id, attempt)}
        if attempt in letters:
            details["dead_letter_id"] = letters[attempt]
        title = "Dead letter re-driven by an operator (same attempt, same external id)"
        items.append(_ours(at, "redriven", title, details))
    items += _dead_letter_items(inputs)
    stage, stage_at = ledger.get("stage"), ledger.get("stage_at")
    if stage == "waiting":
        why = ledger.get("waiting_reason") or "Stark Bank refused it for lack of balance"
        items.append(_ours(stage_at, "waiting", f"Waiting for the balance to cover it: {why}"))
    items += _held_items(ledger)
    if stage == "skipped" and ledger.get("skipped_reason"):
        items.append(_ours(stage_at, "skipped", f"Not forwarded: {ledger['skipped_reason']}"))
    return items


def _held_items(ledger: dict[str, str]) -> list[StoryItem]:
    """The outflow controls' steps: held over a limit (again), released by a new day's
    budget, approved or rejected by a person."""
    items: list[StoryItem] = []
    reason = ledger.get("held_reason")
    if reason is not None:
        amount = ledger.get("held_amount")
        what = LIMITS.get(reason, reason)
        details: Details = {"limit": reason, "amount": int(amount or 0)}
        first, last = ledger.get("held_since"), ledger.get("held_at")
        title = f"Held for a person's approval: {brl(amount)} would pass {what}; nothing sent"
        items.append(_ours(first or last, "held", title, details))
        if last and first and last != first:
            items.append(_ours(last, "held", f"Held again: {what}", details))
    for name, at in ledger.items():
        if name.startswith("released_next_day:"):
            title = "A new day's budget: enqueued again (FORWARD_RELEASE_HELD_NEXT_DAY)"
            items.append(_ours(at, "released", title, {"attempt": int(name.split(":")[1])}))
    for kind, said in (
        ("approved", "enqueued again as the same attempt, past the limits"),
        ("rejected", "never sent"),
    ):
        if f"{kind}_at" in ledger:
            by = ledger.get(f"{kind}_by", "someone")
            title = f"{kind.capitalize()} by {by}: {said}"
            items.append(_ours(ledger[f"{kind}_at"], kind, title, {"by": by}))
    return items


_GAVE_UP = re.compile(r"gave up after (?P<deliveries>\d+) deliveries")


def _dead_letter_details(letter_id: str, kind: str, reason: str) -> Details:
    details: Details = {"dead_letter_id": letter_id, "reason": reason}
    if kind:
        details["kind"] = kind
    if match := _GAVE_UP.search(reason):
        details["deliveries"] = int(match["deliveries"])
    return details


def _dead_letter_items(inputs: StoryInputs) -> list[StoryItem]:
    """Each dead letter: the ones still there, and the re-driven ones (the letter is deleted
    when re-driven; the ledger keeps its id, which holds its time, and the reason)."""
    items: list[StoryItem] = []
    for letter in inputs.dead_letters:
        details = _dead_letter_details(letter.id, letter.kind, letter.reason)
        if letter.fields.get("entry_id"):
            details["stream_entry"] = letter.fields["entry_id"]
        if letter.fields.get("source"):
            details["enqueued_by"] = letter.fields["source"]
        title = f"Dead-lettered ({letter.kind or 'unknown'}): {letter.reason}"
        items.append(_ours(letter.dead_at, "dead_letter", title, details))
    present = {letter.id for letter in inputs.dead_letters}
    reason = inputs.ledger.get("dead_reason", "")
    for attempt, letter_id in _attempts(inputs.ledger, "redriven_dead_letter").items():
        stamp = letter_id.split("-")[0]
        if letter_id in present or not stamp.isdigit():
            continue
        details = _dead_letter_details(letter_id, "", reason) | {"attempt": attempt}
        title = f"Dead-lettered: {reason or 'reason not kept'} (re-driven since)"
        items.append(_ours(int(stamp) / 1000, "dead_letter", title, details))
    return items


def transfer_items(inputs: StoryInputs) -> list[StoryItem]:
    items: list[StoryItem] = []
    by_id = {t.id: t for t in inputs.transfers}
    for transfer in inputs.transfers:
        ours = parse_external_id(transfer.external_id)
        attempt = ours[1] if ours else 0
        items.append(
            StoryItem(
                transfer.created,
                "stark_bank",
                "transfer",
                f"Transfer {transfer.id} of {brl(transfer.amount)} created "
                f"(attempt {attempt}, now {transfer.status})",
                {
                    "transfer_id": transfer.id,
                    "external_id": transfer.external_id or "",
                    "amount": transfer.amount,
                    "status": transfer.status,
                    "attempt": attempt,
                },
            )
        )
    for entry in inputs.transfer_logs:
        if entry.type == "created" and entry.transfer.id in by_id:
            continue  # the transfer item says it
        details: Details = {"transfer_id": entry.transfer.id, "log_id": entry.id}
        title = f"Transfer {entry.transfer.id} {entry.type}"
        if entry.errors:
            details["errors"] = "; ".join(entry.errors)
            title += f": {details['errors']}"
        items.append(StoryItem(entry.created, "stark_bank", "transfer_log", title, details))
    return items
