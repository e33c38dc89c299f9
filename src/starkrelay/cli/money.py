"""Where the money stands: ``reconcile`` and ``dead-letters list|retry`` (``--json`` on each)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starkrelay.cli import common
from starkrelay.core.money import brl

if TYPE_CHECKING:
    from starkrelay.api.deps import Services
    from starkrelay.forwarding.dead_letters import DeadLetter, RetryResult

UNEXPLAINED_OUTFLOW_EXIT = 3
"""``starkrelay reconcile`` exit status when the money report finds unexplained outflow or a
reversal after forwarding (1: it could not run, 2: a setting is wrong)."""


def _first_day(text: str | None) -> date | None:
    from starkrelay.reconciliation.service import SinceRefused, parse_since

    try:
        return None if text is None else parse_since(text)
    except SinceRefused as refused:
        raise typer.BadParameter(str(refused)) from None


@common.app.command()
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
    as_json: common.JsonOption = False,
) -> None:
    """Run the reconciliation sweep now and print its money report. Exits with status
    3 when the report finds unexplained outflow (money sent to the destination that no
    credited invoice of ours explains) or money forwarded for invoices reversed after it.

    --json prints the report with its kind: daily, or ad-hoc (--since given)."""
    from starkrelay.api.wiring import run_reconciliation
    from starkrelay.cli.report_view import print_report
    from starkrelay.reconciliation.service import (
        ReconciliationBusy,
        SinceRefused,
        check_since,
    )

    settings = common.load_or_exit()
    if since is not None:
        try:
            check_since(since, settings)
        except SinceRefused as refused:
            raise typer.BadParameter(str(refused), param_hint="'--since'") from None

    async def work(services: Services) -> Any:
        with common.working("Reconciling with Stark Bank...", quiet=as_json):
            return await run_reconciliation(services, since)

    with common.failing(ReconciliationBusy):
        report = common.run_with_services(work, settings=settings, reads_state=True)
    if as_json:
        common.print_json({"kind": "daily" if since is None else "ad-hoc", **asdict(report)})
    else:
        print_report(report, common.console)
        if since is not None:
            common.console.print(
                "Ad-hoc report (--since given): kept as the last ad-hoc report; the daily "
                "report, its metrics and alerts are unchanged.",
                highlight=False,
            )
    if report.unexplained:
        common.fail(
            f"unexplained outflow of {brl(report.unexplained_outflow)} in "
            f"{len(report.unexplained)} transfer(s) to the destination; see the report's "
            "unexplained outflow",
            UNEXPLAINED_OUTFLOW_EXIT,
        )
    if report.reversed_after_forward:
        common.fail(
            f"{brl(report.reversed_after_forward)} forwarded for {len(report.reversals)} "
            "invoice(s) reversed after their forward; recover it (see the report's reversals)",
            UNEXPLAINED_OUTFLOW_EXIT,
        )


@common.dead_letters_app.command("list")
def dead_letters_list(as_json: common.JsonOption = False) -> None:
    """Every forward in the dead-letter stream, oldest first, with why it was given up on."""
    from starkrelay.forwarding.dead_letters import list_dead_letters

    letters = common.run_with_services(
        lambda services: list_dead_letters(services.store), reads_state=True
    )
    if as_json:
        common.print_json([_letter_json(letter) for letter in letters])
        return
    table = common.new_table(
        f"{len(letters)} dead letters", "invoice", "attempt / external id", "amount", no_wrap=True
    )
    table.add_column("reason", overflow="fold")
    table.add_column("when")
    for letter in letters:
        item = letter.item
        table.add_row(
            letter.invoice_id or "?",
            f"{item.attempt} {item.external_id}" if item else "-",
            brl(item.amount) if item else "-",
            f"{letter.kind}: {letter.reason}" if letter.kind else letter.reason,
            common.when(letter.dead_at),
        )
    common.console.print(table)


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    item = letter.item
    return {
        "id": letter.id,
        "invoice_id": letter.invoice_id or None,
        "attempt": item.attempt if item else None,
        "external_id": item.external_id if item else None,
        "amount": item.amount if item else None,
        "kind": letter.kind or None,
        "reason": letter.reason,
        "dead_at": letter.dead_at,
    }


@common.dead_letters_app.command("retry")
def dead_letters_retry(
    invoice: Annotated[
        list[str] | None,
        typer.Option(metavar="ID", help="Retry this invoice's dead letters (repeatable)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every dead letter.")] = False,
    as_json: common.JsonOption = False,
) -> None:
    """Re-drive dead letters as the SAME attempt (same external id), once their cause is
    fixed. An invoice Stark Bank already holds a live transfer for is recorded instead, and
    nothing is sent. Retrying twice does nothing the second time. A named invoice without a
    dead letter (unknown, or already retried) is named on stderr, nothing is retried, and
    the exit status is 1."""
    from starkrelay.bank.errors import BankError
    from starkrelay.forwarding.dead_letters import list_dead_letters, retry_dead_letters

    if bool(invoice) == all_:
        common.fail("name the dead letters: --invoice ID (repeatable) or --all")

    async def work(services: Services) -> Any:
        letters = await list_dead_letters(services.store, invoice_ids=None if all_ else invoice)
        missing = sorted(set(invoice or []) - {letter.invoice_id for letter in letters})
        if missing:  # a typo or a second retry: refuse before re-driving anything
            return missing, []
        with common.working("Asking Stark Bank about each invoice...", quiet=as_json):
            results = await retry_dead_letters(services.store, services.bank, letters)
        return [], results

    why = "{error}; nothing retried past that point, run the command again"
    with common.failing(BankError, why=why):
        missing, results = common.run_with_services(work, reads_state=True)
    if as_json:
        common.print_json([_retry_json(result) for result in results])
    else:
        for result in results:
            letter = result.dead_letter
            detail = f" {result.detail}" if result.detail else ""
            common.console.print(
                f"invoice {letter.invoice_id or '?'}: {result.outcome.value}{detail}"
            )
    if missing:
        common.fail(
            "; ".join(f"invoice {i}: no dead letter (unknown, or already retried)" for i in missing)
            + "; nothing retried; see `starkrelay dead-letters list`"
        )


def _retry_json(result: RetryResult) -> dict[str, Any]:
    return {
        "invoice_id": result.dead_letter.invoice_id or None,
        "dead_letter": result.dead_letter.id,
        "outcome": result.outcome.value,
        "detail": result.detail,
    }
