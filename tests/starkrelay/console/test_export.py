"""The money report as CSV and JSON, and the report history kept in Redis."""

from __future__ import annotations

import csv
import io
import json

import pytest

from starkrelay.console.export import TOTALS, report_at, report_csv, report_json
from starkrelay.core.store import Store
from starkrelay.reconciliation.report import MoneyReport, load_report_history, store_report

pytestmark = pytest.mark.anyio


def sample(n: int = 0) -> MoneyReport:
    return MoneyReport(
        since="2026-11-30", generated_at=f"2026-12-01T01:00:0{n}+00:00", invoices=3,
        credited=30_000 + n, fees=150, net=29_850 + n, forwarded=19_900, in_flight=4_975 + n,
        dead_lettered=4_975, events_marked_delivered=2, enqueued_missing=1,
        waiting=1_000, unexplained_outflow=300,
        unexplained=[
            {"transfer_id": "t9", "amount": 300, "invoice_id": "", "reason": "no invoice"}
        ],
        disagreements=[{"invoice_id": "77", "net": 4_975, "problem": "credited, no, \"record\""}],
    )  # fmt: skip


def test_csv_parses_and_its_totals_equal_the_report() -> None:
    report = sample()
    text = report_csv(report)
    assert text.startswith("record,name,value,invoice_id,problem\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    totals = {r["name"]: int(r["value"]) for r in rows if r["record"] == "total"}
    assert list(totals) == [*MoneyReport.LINES, "unexplained_outflow"] == list(TOTALS)
    assert totals == {line: getattr(report, line) for line in TOTALS}
    counts = {r["name"]: int(r["value"]) for r in rows if r["record"] == "count"}
    assert counts["invoices"] == 3
    assert counts["events_marked_delivered"] == 2
    meta = {r["name"]: r["value"] for r in rows if r["record"] == "meta"}
    assert meta == {"since": "2026-11-30", "generated_at": report.generated_at}
    [problem] = [r for r in rows if r["record"] == "disagreement"]
    assert (problem["invoice_id"], problem["value"]) == ("77", "4975")
    assert problem["problem"] == 'credited, no, "record"'  # quoted, not split
    [outflow] = [r for r in rows if r["record"] == "unexplained"]
    assert (outflow["name"], outflow["value"], outflow["problem"]) == ("t9", "300", "no invoice")


def test_json_round_trips_the_report() -> None:
    report = sample()
    assert MoneyReport(**json.loads(json.dumps(report_json(report)))) == report


async def test_history_keeps_the_newest_n(store: Store) -> None:
    for n in range(5):
        await store_report(store, sample(n), history=3)
    history = await load_report_history(store)
    assert [r.generated_at[-7] for r in history] == ["4", "3", "2"]
    assert await report_at(store, 0) == sample(4)
    assert await report_at(store, 2) == sample(2)
    assert await report_at(store, 3) is None
