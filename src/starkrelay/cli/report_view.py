"""The money report in a terminal: the money lines, then what needs a person (unexplained
outflow, reversals after forwarding, invoices whose numbers disagree)."""

from __future__ import annotations

from rich.console import Console

from starkrelay.cli.common import new_table
from starkrelay.core.money import brl
from starkrelay.reconciliation.report import MoneyReport


def print_report(report: MoneyReport, console: Console | None = None) -> None:
    """Print the report as two tables: the money lines and the disagreeing invoices."""
    console = console or Console()
    table = new_table(
        f"Money report since {report.since} ({report.invoices} invoices)", "line", "amount"
    )
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
        outflow = new_table("Unexplained outflow to the destination", "transfer", "amount",
                            "status", "invoice / external id", "why", style="red")  # fmt: skip
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
        reversals = new_table("Reversed after forwarding: money to recover", "invoice",
                              "forwarded", "still held", "to recover", style="red")  # fmt: skip
        for row in report.reversals:
            reversals.add_row(
                str(row["invoice_id"]),
                brl(int(row["forwarded"])),
                brl(int(row["held"])),
                brl(int(row["to_recover"])),
            )
        console.print(reversals)
    if report.disagreements:
        problems = new_table("Invoices whose numbers disagree", "invoice", "net", "problem",
                             style="red")  # fmt: skip
        for row in report.disagreements:
            problems.add_row(str(row["invoice_id"]), brl(int(row["net"])), str(row["problem"]))
        console.print(problems)
    else:
        console.print("[green]Every credited invoice adds up.[/green]")
