"""``doctor``: the going-live preflight (settings, Redis, Stark Bank, the public URL)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from starkrelay.cli.common import app, console
from starkrelay.core.logs import configure_logging


@app.command()
def doctor(
    check_url: Annotated[
        bool, typer.Option("--check-url", help="Also GET API_EXTERNAL_URL/health from here.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as one JSON object.")
    ] = False,
) -> None:
    """Check everything going live needs; exit 0 only when no check fails.

    Settings (each wrong variable), Redis (reachable, version, maxmemory-policy noeviction,
    persistence), Stark Bank (credentials, balance, workspace, our webhook and its
    subscriptions), API_EXTERNAL_URL over https and, with --check-url, answering from outside.
    Prints the workspace id Stark Bank reports for these credentials (STARK_WORKSPACE_ID,
    required in production). Reads only: nothing is created or changed.
    """
    from starkrelay.ops.doctor import Status, run_doctor

    marks = {
        Status.PASSED: "[green]✔ pass[/green]",
        Status.WARNED: "[yellow]! warn[/yellow]",
        Status.FAILED: "[bold red]✖ fail[/bold red]",
        Status.SKIPPED: "[dim]- skip[/dim]",
    }

    configure_logging("ERROR", "console")  # the checklist says it all; errors still on stderr
    report = asyncio.run(run_doctor(check_url=check_url))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        table = Table(title="starkrelay doctor", title_justify="left")
        for column in ("check", "result", "found", "what to do"):
            table.add_column(column, overflow="fold")
        for result in report.results:
            table.add_row(result.name, marks[result.status], result.detail, result.fix)
        console.print(table)
        if report.workspace_id is not None:
            console.print(
                "The workspace Stark Bank reports for these credentials: "
                f"[bold]STARK_WORKSPACE_ID={report.workspace_id}[/bold]",
                soft_wrap=True,
                highlight=False,
            )
        if report.ok:
            console.print("[bold green]Ready to go live:[/bold green] no check failed.")
        else:
            names = ", ".join(result.name for result in report.failed)
            console.print(
                f"[bold red]Not ready:[/bold red] {len(report.failed)} check(s) failed: {names}."
            )
    raise typer.Exit(0 if report.ok else 1)
