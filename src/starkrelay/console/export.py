"""The money report as files people download: CSV and JSON, the last report or one from the
history (``index`` 0 is the newest).

CSV columns: ``record,name,value,invoice_id,problem``. Records: ``meta`` (since, generated
at), ``total`` (each money line in cents, in ``MoneyReport.LINES`` order, then
``unexplained_outflow``), ``count`` (invoices, events marked delivered, ...), ``disagreement``
(one per invoice whose numbers disagree; value is its net in cents), ``unexplained`` (one per
transfer to the destination that no credited invoice explains; value is its amount). Every
total row equals the report's field of that name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from starkrelay.core.store import Store
from starkrelay.reconciliation.report import MoneyReport, load_report, load_report_history

CSV_COLUMNS = ("record", "name", "value", "invoice_id", "problem")
TOTALS = (*MoneyReport.LINES, "unexplained_outflow")
COUNTS = (
    "invoices",
    "skipped",
    "events_marked_delivered",
    "enqueued_missing",
    "resent",
    "lost_requeued",
)


def report_rows(report: MoneyReport) -> list[dict[str, str | int]]:
    """The report as CSV records (see the module docstring)."""
    rows: list[dict[str, str | int]] = [
        {"record": "meta", "name": "since", "value": report.since},
        {"record": "meta", "name": "generated_at", "value": report.generated_at},
    ]
    rows += [{"record": "total", "name": line, "value": getattr(report, line)}
             for line in TOTALS]  # fmt: skip
    rows += [{"record": "count", "name": name, "value": getattr(report, name)} for name in COUNTS]
    for problem in report.disagreements:
        rows.append(
            {
                "record": "disagreement",
                "name": "net",
                "value": problem.get("net", ""),
                "invoice_id": problem.get("invoice_id", ""),
                "problem": problem.get("problem", ""),
            }
        )
    for outflow in report.unexplained:
        rows.append(
            {
                "record": "unexplained",
                "name": str(outflow.get("transfer_id", "")),
                "value": outflow.get("amount", ""),
                "invoice_id": outflow.get("invoice_id", ""),
                "problem": outflow.get("reason", ""),
            }
        )
    return rows


def csv_text(
    columns: Sequence[str], rows: Iterable[Mapping[str, object]], *, header: bool = True
) -> str:
    """``rows`` as CSV text (``\\r\\n`` line ends; a value missing or None is empty), the
    header row first when asked."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def report_csv(report: MoneyReport) -> str:
    """The report as CSV text (header row first, ``\\r\\n`` line ends)."""
    return csv_text(CSV_COLUMNS, report_rows(report))


def report_json(report: MoneyReport) -> dict[str, Any]:
    """The report as a JSON object: every field of ``MoneyReport``, amounts in cents."""
    return asdict(report)


def report_filename(report: MoneyReport, extension: str) -> str:
    stamp = report.generated_at[:19].replace(":", "").replace("-", "")
    return f"starkrelay-money-report-{stamp}.{extension}"


async def report_at(store: Store, index: int = 0) -> MoneyReport | None:
    """Report ``index`` of the history (0: the newest, which is the last stored report);
    None when there is no such report."""
    if index == 0:
        return await load_report(store)
    history = await load_report_history(store)
    return history[index] if 0 <= index < len(history) else None
