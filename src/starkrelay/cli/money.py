"""Where the money stands: ``status``, ``reconcile`` and ``dead-letters list|retry``."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from starkrelay.cli.common import (
    app,
    cents,
    console,
    dead_letters_app,
    errors,
    fail,
    load_or_exit,
    run_with_services,
    when,
)

if TYPE_CHECKING:
    from starkrelay.api.deps import Services

UNEXPLAINED_OUTFLOW_EXIT = 3
"""``starkrelay reconcile`` exit status when the money report finds unexplained outflow or a
reversal after forwarding (1: it could not run, 2: a setting is wrong)."""


@app.command()
def status() -> None:
    """Campaign progress, forwarding stages and queues, last money report (as JSON)."""
    from starkrelay.api.status import status_body

    settings = load_or_exit()
    body = run_with_services(
        settings,
        lambda services: status_body(services.redis, services.keys, services.settings),
        reads_state=True,
    )
    console.print_json(data=body, default=str)


def _first_day(text: str | None) -> date | None:
    from starkrelay.reconciliation.service import SinceRefused, parse_since

    try:
        return None if text is None else parse_since(text)
    except SinceRefused as refused:
        raise typer.BadParameter(str(refused)) from None


@app.command()
def reconcile(
    since: Annotated[
        date | None,
        typer.Option(
            parser=_first_day,
            metavar="YYYY-MM-DD",
            help="First day to sweep, from 2000-01-01 to today. Given, the run is ad-hoc: its "
            "report is kept apart and does not replace the last (daily) report.",
        ),
    ] = None,
) -> None:
    """Run the reconciliation sweep now and print its money report. Exits with status
    3 when the report finds unexplained outflow (money sent to the destination that no
    credited invoice of ours explains) or money forwarded for invoices reversed after it."""
    from starkrelay.api.wiring import run_reconciliation
    from starkrelay.cli.report_view import print_report
    from starkrelay.reconciliation.service import (
        ReconciliationBusy,
        SinceRefused,
        check_since,
    )

    settings = load_or_exit()
    if since is not None:
        try:
            check_since(since, settings)
        except SinceRefused as refused:
            raise typer.BadParameter(str(refused), param_hint="'--since'") from None

    async def work(services: Services) -> Any:
        with console.status("Reconciling with Stark Bank..."):
            try:
                return await run_reconciliation(services, since)
            except ReconciliationBusy as busy:
                fail(str(busy))

    report = run_with_services(settings, work, reads_state=True)
    print_report(report, console)
    if since is not None:
        console.print(
            "Ad-hoc report (--since given): kept as the last ad-hoc report; the daily report, "
            "its metrics and alerts are unchanged.",
            highlight=False,
        )
    if report.unexplained:
        errors.print(
            f"starkrelay: unexplained outflow of {cents(report.unexplained_outflow)} in "
            f"{len(report.unexplained)} transfer(s) to the destination; see the table above",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(UNEXPLAINED_OUTFLOW_EXIT)
    if report.reversed_after_forward:
        errors.print(
            f"starkrelay: {cents(report.reversed_after_forward)} forwarded for "
            f"{len(report.reversals)} invoice(s) reversed after their forward; recover it "
            "(see the table above)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(UNEXPLAINED_OUTFLOW_EXIT)


@dead_letters_app.command("list")
def dead_letters_list() -> None:
    """Every forward in the dead-letter stream, oldest first, with why it was given up on."""
    from starkrelay.forwarding.dead_letters import list_dead_letters

    settings = load_or_exit()

    async def work(services: Services) -> Any:
        return await list_dead_letters(services.redis, services.keys)

    letters = run_with_services(settings, work, reads_state=True)
    table = Table(title=f"{len(letters)} dead letters")
    table.add_column("invoice", no_wrap=True)
    table.add_column("attempt / external id", no_wrap=True)
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold")
    table.add_column("when")
    for letter in letters:
        item = letter.item
        table.add_row(
            letter.invoice_id or "?",
            f"{item.attempt} {item.external_id}" if item else "-",
            cents(item.amount) if item else "-",
            f"{letter.kind}: {letter.reason}" if letter.kind else letter.reason,
            when(letter.dead_at),
        )
    console.print(table)


@dead_letters_app.command("retry")
def dead_letters_retry(
    invoice: Annotated[
        list[str] | None, typer.Option(help="Retry this invoice's dead letters (repeatable).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every dead letter.")] = False,
) -> None:
    """Re-drive dead letters as the SAME attempt (same external id), once their cause is
    fixed. An invoice Stark Bank already holds a live transfer for is recorded instead, and
    nothing is sent. Retrying twice does nothing the second time. A named invoice without a
    dead letter (unknown, or already retried) is named on stderr, nothing is retried, and
    the exit status is 1."""
    from starkrelay.bank.errors import BankError
    from starkrelay.forwarding.dead_letters import list_dead_letters, retry_dead_letters

    if bool(invoice) == all_:
        fail("name the dead letters: --invoice ID (repeatable) or --all")
        return
    settings = load_or_exit()

    async def work(services: Services) -> Any:
        letters = await list_dead_letters(
            services.redis, services.keys, invoice_ids=None if all_ else invoice
        )
        missing = sorted(set(invoice or []) - {letter.invoice_id for letter in letters})
        if missing:  # a typo or a second retry: refuse before re-driving anything
            return missing, []
        with console.status("Asking Stark Bank about each invoice..."):
            results = await retry_dead_letters(
                services.redis, services.keys, services.bank, letters
            )
        return [], results

    try:
        missing, results = run_with_services(settings, work, reads_state=True)
    except BankError as error:
        fail(f"{error}; nothing retried past that point, run the command again")
        return
    for result in results:
        letter = result.dead_letter
        detail = f" {result.detail}" if result.detail else ""
        console.print(f"invoice {letter.invoice_id or '?'}: {result.outcome.value}{detail}")
    if missing:
        fail(
            "; ".join(f"invoice {i}: no dead letter (unknown, or already retried)" for i in missing)
            + "; nothing retried; see `starkrelay dead-letters list`"
        )
