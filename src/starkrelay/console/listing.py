"""The console's lists, read a bounded page at a time from Redis indexes, newest first.

Callers may rely on:

- no read is a full scan: invoices come from ``ledger_index`` by rank (``ZREVRANK`` of the
  cursor, then ``ZREVRANGE``), deliveries and actions from their capped streams
  (``XREVRANGE`` below the cursor id);
- a cursor names the last row shown (an invoice id, a stream entry id), so rows written
  meanwhile never shift a page: the next page starts right after that row;
- a stage filter looks at no more than ``SCAN_BUDGET`` invoices per page; when the page is not
  full by then, it says how far it looked and hands a cursor to go on from there;
- a campaign slot filter reads the slot's own record (its invoice ids), so it shows the
  slot's invoices that were never credited too (stage ``None``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from starkrelay.core.store import Redis, Store
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.outcomes import load_outcome, load_outcomes

T = TypeVar("T")
N = TypeVar("N", int, float)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SCAN_BUDGET = 2000
"""Invoices a stage-filtered page looks at, at most."""
SCAN_CHUNK = 250
SLOT_MAP_LIMIT = 500
"""Campaigns with more resolved slots than this show no slot per row (the filter still works)."""

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class CursorRefused(ValueError):
    """A cursor that is not one this console hands out, or whose row is gone."""


@dataclass(frozen=True)
class StreamPage(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    """The id to pass as ``before`` for the next (older) page; None on the last page."""


async def stream_page(
    redis: Redis, key: str, before: str | None, count: int
) -> StreamPage[tuple[str, dict[str, str]]]:
    """Up to ``count`` entries of stream ``key``, newest first, older than ``before``."""
    if before is not None and not _STREAM_ID.match(before):
        raise CursorRefused(f"{before!r} is not a stream entry id")
    top = f"({before}" if before else "+"
    raw = await redis.xrevrange(key, max=top, min="-", count=count + 1)
    entries = [
        (str(entry_id), {str(k): str(v) for k, v in (fields or {}).items()})
        for entry_id, fields in raw or []
    ]
    more = len(entries) > count
    entries = entries[:count]
    return StreamPage(entries, entries[-1][0] if more and entries else None)


def _number(value: str | None, kind: Callable[[str], N]) -> N | None:
    """A ledger field as a number; None when absent, empty or not a number."""
    try:
        return None if value is None or value == "" else kind(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice as its ledger holds it (every field None when it has no ledger)."""

    invoice_id: str
    first_seen: float | None
    stage: str | None
    attempt: int | None
    gross_amount: int | None
    fee: int | None
    net: int | None
    reversed: int | None
    transfer_id: str | None
    transfer_status: str | None
    stage_at: float | None
    slot: int | None
    problem: str | None
    """What the ledger says went wrong or why nothing was sent, if anything."""

    @classmethod
    def from_ledger(
        cls, invoice_id: str, ledger: dict[str, str], first_seen: float | None, slot: int | None
    ) -> InvoiceRow:
        attempt = _number(ledger.get("attempt"), int)
        suffix = f":{attempt}" if attempt is not None else ":0"
        stage = ledger.get("stage")
        problem = (
            ledger.get("refused_reason") if stage == "refused"
            else ledger.get("skipped_reason") if stage == "skipped"
            else ledger.get("dead_reason") if stage == "dead"
            else ledger.get("waiting_reason") if stage == "waiting"
            else ledger.get("last_error") if stage in {"queued", "failed"}
            else None
        )  # fmt: skip
        return cls(
            invoice_id=invoice_id,
            first_seen=first_seen,
            stage=stage,
            attempt=attempt,
            gross_amount=_number(ledger.get("gross_amount"), int),
            fee=_number(ledger.get("fee"), int),
            net=_number(ledger.get("amount"), int),
            reversed=_number(ledger.get("reversed_amount"), int),
            transfer_id=ledger.get("transfer" + suffix),
            # the ledger's stage is what our evidence decided; the status field keeps the last
            # event seen, which a late delivery of an earlier log (processing after success)
            # can overwrite
            transfer_status="success"
            if stage == "success"
            else ledger.get("transfer_status" + suffix),
            stage_at=_number(ledger.get("stage_at"), float),
            slot=slot,
            problem=problem or None,
        )


@dataclass(frozen=True)
class InvoicePage:
    rows: list[InvoiceRow]
    next_cursor: str | None
    examined: int = 0
    """Invoices looked at (a stage-filtered page)."""
    budget_spent: bool = False
    """True when a stage-filtered page stopped at ``SCAN_BUDGET`` before it was full."""


@dataclass(frozen=True)
class SlotMap:
    """The current campaign and which slot issued each of its invoices."""

    campaign: Campaign | None
    slots: int
    """Resolved slots of the campaign."""
    by_invoice: dict[str, int]


async def slot_map(store: Store) -> SlotMap:
    """The current campaign's slot per invoice (empty past ``SLOT_MAP_LIMIT`` slots)."""
    campaign = await load_campaign(store)
    if campaign is None:
        return SlotMap(None, 0, {})
    key = store.keys.campaign_slots(campaign.id)
    resolved = int(await store.redis.hlen(key))
    if resolved > SLOT_MAP_LIMIT:
        return SlotMap(campaign, resolved, {})
    outcomes = (await load_outcomes(store, campaign.id)).values()
    found = {invoice_id: o.slot for o in outcomes for invoice_id in o.invoice_ids}
    return SlotMap(campaign, resolved, found)


async def read_ledgers(store: Store, invoice_ids: Iterable[str]) -> list[dict[str, str]]:
    """Each invoice's ledger (empty when it has none), read in one pipeline."""
    pipe = store.redis.pipeline(transaction=False)
    for invoice_id in invoice_ids:
        pipe.hgetall(store.keys.webhook_ledger(invoice_id))
    return [{str(k): str(v) for k, v in ledger.items()} for ledger in await pipe.execute()]


async def _rows(
    store: Store,
    members: Sequence[tuple[str, float | None]],
    slots: dict[str, int],
) -> list[InvoiceRow]:
    ledgers = await read_ledgers(store, (invoice_id for invoice_id, _ in members))
    return [
        InvoiceRow.from_ledger(invoice_id, ledger, score, slots.get(invoice_id))
        for (invoice_id, score), ledger in zip(members, ledgers, strict=True)
    ]


async def invoice_page(
    store: Store,
    *,
    before: str | None = None,
    stage: str | None = None,
    count: int = PAGE_SIZE,
    slots: dict[str, int] | None = None,
) -> InvoicePage:
    """A page of invoices, newest first (by first ledger write), after the invoice
    ``before``; only those at ``stage`` when given (see the module docstring)."""
    index = store.keys.ledger_index()
    start = 0
    if before is not None:
        rank = await store.redis.zrevrank(index, before)
        if rank is None:
            raise CursorRefused(f"invoice {before} is not in the ledger index")
        start = int(cast(int, rank)) + 1
    if stage is None:
        members = cast(
            list[tuple[str, float]],
            await store.redis.zrevrange(index, start, start + count, withscores=True),
        )
        shown = members[:count]
        rows = await _rows(store, shown, slots or {})
        return InvoicePage(rows, shown[-1][0] if len(members) > count else None, len(shown))
    matched: list[tuple[str, float]] = []
    examined, position, last = 0, start, None
    total = int(await store.redis.zcard(index))
    while len(matched) < count and examined < SCAN_BUDGET and position < total:
        chunk = cast(
            list[tuple[str, float]],
            await store.redis.zrevrange(
                index, position, position + SCAN_CHUNK - 1, withscores=True
            ),
        )
        if not chunk:
            break
        pipe = store.redis.pipeline(transaction=False)
        for invoice_id, _ in chunk:
            pipe.hget(store.keys.webhook_ledger(invoice_id), "stage")
        stages = await pipe.execute()
        for (invoice_id, score), found in zip(chunk, stages, strict=True):
            examined += 1
            position += 1
            last = invoice_id
            if found == stage:
                matched.append((invoice_id, score))
            if len(matched) == count or examined == SCAN_BUDGET:
                break
    more = position < total
    rows = await _rows(store, matched, slots or {})
    spent = more and len(matched) < count
    return InvoicePage(rows, last if more else None, examined, spent)


async def slot_invoices(
    store: Store, campaign: Campaign, slot: int, stage: str | None = None
) -> list[InvoiceRow]:
    """The invoices slot ``slot`` of ``campaign`` issued, newest first by first ledger
    write (never credited ones last); only those at ``stage`` when given."""
    outcome = await load_outcome(store, campaign.id, slot)
    ids = list(outcome.invoice_ids) if outcome else []
    if not ids:
        return []
    scores = await store.redis.zmscore(store.keys.ledger_index(), ids)
    members = [(invoice_id, score) for invoice_id, score in zip(ids, scores, strict=True)]
    members.sort(key=lambda m: (m[1] is None, -(m[1] or 0.0), m[0]))
    rows = await _rows(store, members, dict.fromkeys(ids, slot))
    return [row for row in rows if stage is None or row.stage == stage]


@dataclass(frozen=True)
class DeliveryRow:
    """One webhook delivery of an event about one of our invoices."""

    id: str
    invoice_id: str
    at: float | None
    event_id: str
    subscription: str
    log_type: str
    outcome: str
    source: str


def _delivery(entry_id: str, fields: dict[str, str]) -> DeliveryRow:
    try:
        delivery = json.loads(fields.get("delivery", "{}"))
    except ValueError:
        delivery = {}
    if not isinstance(delivery, dict):
        delivery = {}
    at = delivery.get("at")
    return DeliveryRow(
        id=entry_id,
        invoice_id=fields.get("invoice_id", ""),
        at=float(at) if isinstance(at, int | float) else int(entry_id.split("-")[0]) / 1000,
        event_id=str(delivery.get("event_id", "")),
        subscription=str(delivery.get("subscription") or ""),
        log_type=str(delivery.get("log_type") or ""),
        outcome=str(delivery.get("outcome", "")),
        source=str(delivery.get("source") or "webhook"),
    )


async def delivery_page(
    store: Store, before: str | None, count: int = PAGE_SIZE
) -> StreamPage[DeliveryRow]:
    """A page of webhook deliveries, newest first, older than the entry ``before``."""
    page = await stream_page(store.redis, store.keys.webhook_delivery_log(), before, count)
    return StreamPage([_delivery(i, f) for i, f in page.rows], page.next_cursor)
