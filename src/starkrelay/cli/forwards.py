"""``forwards held|approve|reject|pause|resume``: the outflow controls from a terminal.

The same code as the console's "Held" page and the admin API (``forwarding.approval``,
``forwarding.pause``), against the Redis the service uses (``REDIS_URL`` is required). Each
action is recorded as ``cli:<user>@<host>``.
"""

from __future__ import annotations

import getpass
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starkrelay.cli.common import (
    Typer,
    app,
    console,
    fail,
    new_table,
    run_with_services,
    when,
)
from starkrelay.core.money import brl

if TYPE_CHECKING:
    from starkrelay.api.deps import Services

forwards_app = Typer(
    help="Outflow controls: forwards held over a limit (approve or reject them) and the "
    "pause switch that stops every transfer.",
)
app.add_typer(forwards_app, name="forwards")

InvoiceIds = Annotated[
    list[str], typer.Argument(metavar="INVOICE_ID...", help="Invoice ids of held forwards.")
]


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


@forwards_app.command("held")
def held() -> None:
    """Every forward held for approval, oldest first, with the limit it would have passed."""
    from starkrelay.ledger import reads

    rows = run_with_services(
        lambda services: reads.list_held(services.store, limit=100000), reads_state=True
    )
    title = f"{len(rows)} held forward(s), {brl(sum(r.amount for r in rows))}"
    table = new_table(title, "invoice", "amount", "limit", "held since", no_wrap=True)
    for row in rows:
        table.add_row(row.invoice_id, brl(row.amount), row.reason, when(row.since))
    console.print(table)
    if rows:
        console.print("Approve with `starkrelay forwards approve <invoice-id>...` (or reject).")


def _decide(invoice_ids: list[str], decision: str) -> None:
    from starkrelay.forwarding.approval import Decision, DecisionOutcome, decide

    results = run_with_services(
        lambda services: decide(services.store, invoice_ids, Decision(decision), who()),
        reads_state=True,
    )
    for result in results:
        amount = f" {brl(result.amount)}" if result.amount else ""
        detail = f" (now {result.detail})" if result.outcome is DecisionOutcome.NOT_HELD else ""
        console.print(f"invoice {result.invoice_id}{amount}: {result.outcome.value}{detail}")
    missed = [r.invoice_id for r in results if r.outcome is DecisionOutcome.NOT_HELD]
    if missed:
        fail(f"{len(missed)} invoice(s) not held (decided before, or never held): nothing done "
             "for them; see `starkrelay forwards held`")  # fmt: skip


@forwards_app.command("approve")
def approve(invoice_ids: InvoiceIds) -> None:
    """Approve held forwards: each is sent once through the normal path (the same attempt,
    the same external id), past the limits, and counted in the day's total. Approving one
    twice does nothing the second time (exit status 1 names it)."""
    _decide(invoice_ids, "approve")


@forwards_app.command("reject")
def reject(invoice_ids: InvoiceIds) -> None:
    """Reject held forwards: recorded (who, when) and never sent; the money report's
    "rejected" line counts them."""
    _decide(invoice_ids, "reject")


@forwards_app.command("pause")
def pause_outflow(
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why; kept with the pause.")] = "",
    wait: Annotated[
        float,
        typer.Option(
            min=0, metavar="SECONDS", help="Seconds to wait for creates in flight to end."
        ),
    ] = 60.0,
) -> None:
    """Stop every replica from creating transfers. Forwards keep arriving and wait; nothing
    is lost. Returns once the pause is acknowledged (no create in flight), or exits with
    status 1 after --wait seconds saying how many are still in flight."""
    from starkrelay.forwarding import pause

    async def work(services: Services) -> Any:
        first = await pause.pause(services.store, who(), reason)
        with console.status("Waiting for transfer creates in flight to end..."):
            state = await pause.wait_acknowledged(services.store, wait)
        return first, state

    first, state = run_with_services(work, reads_state=True)
    said = "paused" if first else f"already paused (since {when(state.at)} by {state.by})"
    if not state.acknowledged:
        fail(f"outflow {said}; {state.in_flight} create(s) started before it are still in "
             "flight (no new one starts); run the command again to wait for them")  # fmt: skip
    console.print(f"Outflow {said}: no transfer is being created; `starkrelay forwards resume` "
                  "sends the waiting forwards, each once.")  # fmt: skip


@forwards_app.command("resume")
def resume_outflow() -> None:
    """Let the workers create transfers again; every waiting forward is sent once."""
    from starkrelay.forwarding import pause

    resumed = run_with_services(
        lambda services: pause.resume(services.store, who()), reads_state=True
    )
    console.print("Outflow resumed." if resumed else "Outflow was not paused; nothing to do.")
