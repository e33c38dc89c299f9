"""``doctor``: the going-live preflight (settings, Redis, Stark Bank, the public URL).

The checklist is the whole output and the verdict its last line: nothing is logged meanwhile
(each failure a check meets is one of its rows; the bank gateway's own ``bank.call.unavailable``
line would repeat one on stderr, where a terminal or a log collector can show it anywhere,
after the verdict included). Each check is a line of its own (its result and name, never
wrapped), with what was found and what to do indented under it, wrapped between words: a
variable name stays whole at any terminal width.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from starkrelay.cli.common import JsonOption, app, console, print_json
from starkrelay.core.logs import configure_logging

if TYPE_CHECKING:
    from starkrelay.cli.doctor_run import DoctorReport


@app.command()
def doctor(
    check_url: Annotated[
        bool, typer.Option("--check-url", help="Also GET API_EXTERNAL_URL/health from here.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check everything going live needs; exit 0 only when no check fails.

    Settings (every wrong or missing variable, in one run), Redis (reachable, version,
    maxmemory-policy noeviction, persistence), Stark Bank (credentials, balance, workspace, our
    webhook and its subscriptions), API_EXTERNAL_URL over https and, with --check-url,
    answering from outside. Prints the workspace id Stark Bank reports for these credentials
    (STARK_WORKSPACE_ID, required in production) and the account forwards go to. Reads only:
    nothing is created or changed.
    """
    from starkrelay.cli.doctor_run import run_doctor

    configure_logging("CRITICAL", "console")  # the checklist says it all (module docstring)
    report = asyncio.run(run_doctor(check_url=check_url))
    if as_json:
        print_json(report.as_dict())
    else:
        print_checklist(report)
    raise typer.Exit(0 if report.ok else 1)


_MARKS = {
    "pass": ("✔ pass", "green"),
    "warn": ("! warn", "yellow"),
    "fail": ("✖ fail", "bold red"),
    "skip": ("- skip", "dim"),
}
_INDENT = 8


def print_checklist(report: DoctorReport) -> None:
    """Each check (what was found, and what to do under it), then the facts read on the
    way, then the verdict."""
    console.print("starkrelay doctor", style="bold", highlight=False)
    for result in report.results:
        mark, style = _MARKS[result.status.value]
        console.print(Text.assemble((mark, style), "  ", result.name), soft_wrap=True)
        found = Text(result.detail)
        if result.fix:
            found.append(f"\n→ {result.fix}", style="italic")
        for line in found.wrap(console, max(console.width - _INDENT, 20)):
            line.rstrip()
            console.print(Text.assemble(" " * _INDENT, line), soft_wrap=True)
    console.print()
    if report.destination is not None:
        console.print(f"This relay {report.destination.describe()}.", markup=False, highlight=False)
    if report.workspace_id is not None:
        console.print(
            "The workspace Stark Bank reports for these credentials: "
            f"[bold]STARK_WORKSPACE_ID={report.workspace_id}[/bold]",
            highlight=False,
        )
    if report.ok:
        console.print("[bold green]Ready to go live:[/bold green] no check failed.")
    else:
        names = ", ".join(result.name for result in report.failed)
        console.print(
            f"[bold red]Not ready:[/bold red] {len(report.failed)} check(s) failed: {names}.",
            highlight=False,
        )
