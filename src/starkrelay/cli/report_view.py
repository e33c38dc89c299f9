"""The money report in a terminal: the money lines, then what needs a person (unexplained
outflow, reversals after forwarding, invoices whose numbers disagree)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from starkrelay.core.money import brl
from starkrelay.reconciliation.report import MoneyReport


def print_report(report: MoneyReport, console: Console | None = None) -> None:
    """Print the report as two tables: the money lines and the disagreeing invoices."""
    console = console or Console()
    table = Table(title=f"Money report since {report.since} ({report.invoices} invoices)")
    table.add_column("line")
    table.add_column("amount", justify="right")
    for line in MoneyReport.LINES:
        table.add_row(line.replace("_", " "), brl(getattr(report, line)))
    table.add_row("events marked delivered", str(report.events_marked_delivered))
    table.add_row("credits enqueued by this run", str(report.enqueued_missing))
    table.add_row("failed forwards re-sent", str(report.resent))
    table.add_row("lost entries re-enqueued", str(report.lost_requeued))
    table.add_row("failed forwards set waiting for balance", str(report.parked_for_balance))
    table.add_row("unexplained outflow", brl(report.unexplained_outflow))
    table.add_row("reversed to payers", brl(report.reversed))
    table.add_row("reversed after forwarding (to recover)", brl(report.reversed_after_forward))
    table.add_row("foreign transfer events (moved nothing)", str(report.foreign_events))
    console.print(table)
    if report.unexplained:
        outflow = Table(title="Unexplained outflow to the destination", style="red")
        outflow.add_column("transfer")
        outflow.add_column("amount", justify="right")
        outflow.add_column("status")
        outflow.add_column("invoice / external id")
        outflow.add_column("why")
        for row in report.unexplained:
            outflow.add_row(
                str(row["transfer_id"]),
                brl(int(row["amount"])),
                str(row["status"]),
                f"{row['invoice_id'] or '-'} / {row['external_id'] or '-'}",
                str(row["reason"]),
            )
        console.print(outflow)
    if report.reversals:
        reversals = Table(title="Reversed after forwarding: money to recover", style="red")
        for column in ("invoice", "forwarded", "still held", "to recover"):
            reversals.add_column(column, justify="left" if column == "invoice" else "right")
        for row in report.reversals:
            reversals.add_row(
                str(row["invoice_id"]),
                brl(int(row["forwarded"])),
                brl(int(row["held"])),
                brl(int(row["to_recover"])),
            )
        console.print(reversals)
    if report.disagreements:
        problems = Table(title="Invoices whose numbers disagree", style="red")
        problems.add_column("invoice")
        problems.add_column("net", justify="right")
        problems.add_column("problem")
        for row in report.disagreements:
            problems.add_row(str(row["invoice_id"]), brl(int(row["net"])), str(row["problem"]))
        console.print(problems)
    else:
        console.print("[green]Every credited invoice adds up.[/green]")
