"""One row per invoice, as files people download: CSV and JSON for a chosen period.

The period is whole days in America/Sao_Paulo, ``start`` to ``end`` inclusive, at most
``MAX_DAYS`` days; an invoice belongs to the day of its first ledger write (its
``ledger_index`` score), so the rows come from ``ZRANGEBYSCORE`` over that window, oldest
first, ``CHUNK`` at a time. A period holding more than ``MAX_ROWS`` invoices is refused
before anything is read.

Columns (``COLUMNS``), amounts in cents, times ISO 8601 UTC, empty when not known:
``invoice_id``, ``first_seen_at``, ``credited_at``, ``gross_amount`` (what the payer paid,
as Stark Bank credited it), ``fee``, ``reversed_amount`` (given back before the forward;
0 once the ownership read found none), ``net_amount`` (what to forward), ``stage``,
``stage_at``, ``attempt``, ``external_id``, ``transfer_id`` and ``transfer_status`` (the
current attempt's forward transfer), ``forwarded_amount`` (cents of a forward Stark Bank
settled; empty until it has).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

from starkrelay.console.export import csv_text
from starkrelay.console.listing import InvoiceRow, read_ledgers
from starkrelay.console.render import SAO_PAULO, to_datetime
from starkrelay.core.store import Store
from starkrelay.ledger.identity import external_id_for

MAX_DAYS = 92
MAX_ROWS = 50_000
CHUNK = 500
DEFAULT_DAYS = 7
EARLIEST = date(2000, 1, 1)

COLUMNS = (
    "invoice_id",
    "first_seen_at",
    "credited_at",
    "gross_amount",
    "fee",
    "reversed_amount",
    "net_amount",
    "stage",
    "stage_at",
    "attempt",
    "external_id",
    "transfer_id",
    "transfer_status",
    "forwarded_amount",
)

Value = str | int | None


class PeriodRefused(ValueError):
    """A period this export does not take; the message says why and what it takes."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def first_second(self) -> float:
        return datetime.combine(self.start, time(), SAO_PAULO).timestamp()

    @property
    def after_last_second(self) -> float:
        return datetime.combine(self.end + timedelta(days=1), time(), SAO_PAULO).timestamp()

    def filename(self, extension: str) -> str:
        return f"starkrelay-invoices-{self.start.isoformat()}-{self.end.isoformat()}.{extension}"


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodRefused(f"{name} must be a day written YYYY-MM-DD") from None


def parse_period(start: str | None, end: str | None, today: date | None = None) -> Period:
    """The period of ``start`` and ``end`` (``YYYY-MM-DD``; by default the last
    ``DEFAULT_DAYS`` days up to today in São Paulo). Raises ``PeriodRefused``."""
    today = today or datetime.now(SAO_PAULO).date()
    last = _day(end, "end") if end else today
    first = _day(start, "start") if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodRefused("start must not be after end")
    if first < EARLIEST or last > today:
        raise PeriodRefused(f"the period must lie between {EARLIEST} and today ({today})")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodRefused(f"a period is at most {MAX_DAYS} days; choose a shorter one")
    return Period(first, last)


async def count_invoices(store: Store, period: Period) -> int:
    """How many invoices the period holds; ``PeriodRefused`` past ``MAX_ROWS``."""
    found = int(
        await store.redis.zcount(
            store.keys.ledger_index(), period.first_second, f"({period.after_last_second}"
        )
    )
    if found > MAX_ROWS:
        raise PeriodRefused(
            f"{found} invoices in {period.start} .. {period.end}; at most {MAX_ROWS} a file: "
            "choose a shorter period"
        )
    return found


def _iso(value: str | float | None) -> str | None:
    when = to_datetime(value)
    return None if when is None else when.isoformat(timespec="seconds")


def invoice_row(invoice_id: str, first_seen: float, ledger: dict[str, str]) -> dict[str, Value]:
    """One export row from an invoice's ledger (see the module docstring)."""
    row = InvoiceRow.from_ledger(invoice_id, ledger, first_seen, None)
    attempt = row.attempt or 0
    reversed_amount = row.reversed
    if reversed_amount is None and row.gross_amount is not None:
        reversed_amount = 0  # the ownership read ran and found no reversal
    return {
        "invoice_id": invoice_id,
        "first_seen_at": _iso(first_seen),
        "credited_at": _iso(ledger.get("credited_at")),
        "gross_amount": row.gross_amount,
        "fee": row.fee,
        "reversed_amount": reversed_amount,
        "net_amount": row.net,
        "stage": row.stage,
        "stage_at": _iso(row.stage_at),
        "attempt": attempt if row.stage else None,
        "external_id": external_id_for(invoice_id, attempt) if row.stage else None,
        "transfer_id": row.transfer_id,
        "transfer_status": row.transfer_status,
        "forwarded_amount": row.net if row.transfer_status == "success" else None,
    }


async def invoice_rows(store: Store, period: Period) -> AsyncIterator[list[dict[str, Value]]]:
    """The period's rows, oldest first, a chunk (one pipeline) at a time."""
    offset = 0
    while True:
        members = cast(list[tuple[str, float]], await store.redis.zrangebyscore(
            store.keys.ledger_index(), period.first_second, f"({period.after_last_second}",
            start=offset, num=CHUNK, withscores=True,
        ))  # fmt: skip
        if not members:
            return
        ledgers = await read_ledgers(store, (str(invoice_id) for invoice_id, _ in members))
        yield [
            invoice_row(str(invoice_id), float(score), ledger)
            for (invoice_id, score), ledger in zip(members, ledgers, strict=True)
        ]
        if len(members) < CHUNK:
            return
        offset += CHUNK


async def csv_chunks(store: Store, period: Period) -> AsyncIterator[str]:
    """The period's CSV, header first, one chunk of rows at a time."""
    yield csv_text(COLUMNS, [])
    async for rows in invoice_rows(store, period):
        yield csv_text(COLUMNS, rows, header=False)


async def json_body(store: Store, period: Period) -> dict[str, object]:
    """The period's rows as one JSON object: ``period``, ``columns`` and ``invoices``."""
    rows: list[dict[str, Value]] = []
    async for chunk in invoice_rows(store, period):
        rows += chunk
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(),
                   "timezone": "America/Sao_Paulo"},
        "columns": list(COLUMNS),
        "invoices": rows,
    }  # fmt: skip
