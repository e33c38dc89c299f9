"""Where the money stands: ``status`` and ``reconcile``."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starkrelay.cli.common import app, console, fail, load_or_exit, run_with_services

if TYPE_CHECKING:
    from starkrelay.deps import Services


@app.command()
def status() -> None:
    """Campaign progress, forwarding stages and queues, last money report (as JSON)."""
    from starkrelay.ops.status import status_body

    settings = load_or_exit()
    body = run_with_services(settings, status_body, reads_state=True)
    console.print_json(data=body, default=str)


@app.command()
def reconcile(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day to sweep.")
    ] = None,
) -> None:
    """Run the reconciliation sweep now and print its money report."""
    from starkrelay.reconciliation.report import print_report
    from starkrelay.reconciliation.service import ReconciliationBusy, run_reconciliation

    settings = load_or_exit()
    first_day: date | None = since.date() if since else None

    async def work(services: Services) -> Any:
        with console.status("Reconciling with Stark Bank..."):
            try:
                return await run_reconciliation(services, first_day)
            except ReconciliationBusy as busy:
                fail(str(busy))

    report = run_with_services(settings, work, reads_state=True)
    print_report(report, console)
