"""The per-invoice export: the periods it takes, and one row per invoice of the period from a
real Redis written by the real ledger scripts."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time

import pytest

from starkrelay import ledger
from starkrelay.console.invoice_export import (
    COLUMNS,
    MAX_DAYS,
    Period,
    PeriodRefused,
    count_invoices,
    csv_chunks,
    json_body,
    parse_period,
)
from starkrelay.console.render import SAO_PAULO
from starkrelay.core.store import Store
from starkrelay.ledger import Evidence, Settlement, Stage
from starkrelay.ledger.identity import ForwardItem

pytestmark = pytest.mark.anyio

TODAY = date(2027, 3, 10)


def test_the_periods_it_takes() -> None:
    assert parse_period(None, None, TODAY) == Period(date(2027, 3, 4), TODAY)
    assert parse_period("2027-03-01", "2027-03-02", TODAY) == Period(
        date(2027, 3, 1), date(2027, 3, 2)
    )
    refused = {
        ("2027-3-1", None): "start must be a day written YYYY-MM-DD",
        ("2027-03-05", "2027-03-04"): "start must not be after end",
        (None, "2027-03-11"): "between 2000-01-01 and today (2027-03-10)",
        ("2026-01-01", None): f"at most {MAX_DAYS} days",
    }
    for (start, end), message in refused.items():
        with pytest.raises(PeriodRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_period(start, end, TODAY)


def at(day: int, hour: int) -> float:
    return datetime.combine(date(2027, 3, day), time(hour), SAO_PAULO).timestamp()


async def test_one_row_per_invoice_first_seen_in_the_period(store: Store) -> None:
    seen = {"before": at(3, 23), "first": at(4, 0), "second": at(5, 23), "after": at(6, 0)}
    for invoice_id, when in seen.items():
        item = ForwardItem(invoice_id, 4_950, 5_000, 50)
        await ledger.intake(
            store, event_id=None, event_ttl_seconds=0, action="forward",
            invoice_id=invoice_id, now=when, stream_fields=item.to_fields(),
            ledger_fields={"credited_at": f"{when:.6f}"},
        )  # fmt: skip
    fields = {"amount": 4_950, "gross_amount": 5_000, "fee": 50,
              "transfer:0": "t1", "transfer_status:0": "success"}  # fmt: skip
    await ledger.settle(store, [Settlement(
        "", "first", 0, Stage.SUCCESS, Evidence.OUR_TRANSFER, 4_950, at(4, 1), fields
    )])  # fmt: skip
    period = Period(date(2027, 3, 4), date(2027, 3, 5))
    assert await count_invoices(store, period) == 2
    text = "".join([chunk async for chunk in csv_chunks(store, period)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    first, second = rows
    assert (first["invoice_id"], second["invoice_id"]) == ("first", "second")
    assert first == first | {
        "gross_amount": "5000", "fee": "50", "reversed_amount": "0", "net_amount": "4950",
        "stage": "success", "attempt": "0", "external_id": "invoice-first",
        "transfer_id": "t1", "transfer_status": "success", "forwarded_amount": "4950",
        "first_seen_at": "2027-03-04T03:00:00+00:00",
        "credited_at": "2027-03-04T03:00:00+00:00",
    }  # fmt: skip
    assert second["stage"] == "queued"
    assert second["forwarded_amount"] == second["gross_amount"] == ""
    as_json = await json_body(store, period)
    assert [r["invoice_id"] for r in as_json["invoices"]] == ["first", "second"]  # type: ignore[attr-defined]
