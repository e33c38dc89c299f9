"""``status``: where the relay stands, read from the Redis every replica shares.

The same record as ``GET /api/v1/status`` (``api.status.status_body``): a summary for people by
default, the whole record as JSON with ``--json``.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from starkrelay.cli.common import (
    JsonOption,
    app,
    console,
    print_json,
    run_with_services,
    when,
)
from starkrelay.core.money import brl


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Stark Bank's health, the campaign, forwards by stage, the queue, the balance wait, dead
    letters and the last money reports (the record GET /api/v1/status serves)."""
    from starkrelay.api.status import status_body

    body = run_with_services(
        lambda services: status_body(services.store, services.settings), reads_state=True
    )
    if as_json:
        print_json(body)
    else:
        print_status(body, console)


def print_status(body: dict[str, Any], out: Console) -> None:
    """One line per part of the record, in the order a person asks about them."""
    table = Table(
        title="starkrelay status", title_justify="left", box=box.SIMPLE, show_header=False
    )
    table.add_column("part", no_wrap=True, style="bold")
    table.add_column("now", overflow="fold")
    forwarding, queue = body["forwarding"], body["queue"]
    rows = {
        "Stark Bank": _bank(body["stark_bank"]),
        "campaign": _campaign(body["campaign"]),
        "forwards by stage": _stages(body["invoices_by_stage"]),
        "sent": f"{forwarding['items_sent']} forward(s) sent, {brl(forwarding['cents_sent'])}, "
        f"in {forwarding['transfer_calls']} transfer call(s); "
        f"{forwarding['items_redriven']} re-driven from dead letters",
        "queue": f"{queue['depth']} forward(s) queued: {queue['lag']} not read yet, "
        f"{queue['pending']} being worked on (oldest {queue['oldest_pending_seconds']:.0f} s); "
        f"{queue['consumers']} consumer(s) reading",
        "waiting for balance": _waiting(body["waiting_for_balance"]),
        "dead letters": f"{queue['dead_letters']}"
        + (" (see `starkrelay dead-letters list`)" if queue["dead_letters"] else ""),
        "last money report": _report(body["last_reconciliation"]),
    }
    if body["last_adhoc_reconciliation"] is not None:
        rows["last ad-hoc report"] = _report(body["last_adhoc_reconciliation"])
    for part, text in rows.items():
        table.add_row(part, Text(text))
    out.print(table)


def _bank(health: dict[str, Any]) -> str:
    if health.get("state") in (None, "healthy"):
        return "answering"
    text = f"{health['state']} since {when(health.get('since'))}"
    if health.get("last_failure_at"):
        text += f", last failure {when(health['last_failure_at'])}"
    if health.get("last_error"):
        text += f" ({health['last_error']})"
    return text


def _campaign(campaign: dict[str, Any] | None) -> str:
    if campaign is None:
        return "none yet: the first scheduler tick starts one"
    slots = "endless" if campaign["slots"] is None else str(campaign["slots"])
    outcomes = ", ".join(f"{name} {count}" for name, count in campaign["slots_by_status"].items())
    text = (
        f"{campaign['id']}: {campaign['slots_resolved']} of {slots} slot(s) resolved"
        f"{f' ({outcomes})' if outcomes else ''}, {campaign['invoices_issued']} invoice(s) issued; "
    )
    if campaign["over"]:
        return text + "over (`starkrelay campaign start` begins a new one)"
    following = campaign["next_slot_at"]
    return text + (f"next slot at {when(following)}" if following else "no slot left")


def _stages(stages: dict[str, int]) -> str:
    counted = [f"{stage} {count}" for stage, count in stages.items() if count]
    return ", ".join(counted) if counted else "no forward yet"


def _waiting(waiting: dict[str, Any]) -> str:
    text = "nothing"
    if waiting["invoices"]:
        text = (
            f"{waiting['invoices']} invoice(s), {brl(waiting['cents'])}, "
            f"waiting since {when(waiting['oldest_since'])}"
        )
    check = waiting.get("last_check") or {}
    if check.get("checked_at"):
        balance = check.get("balance")
        seen = f", balance {brl(int(balance))}" if balance else ""
        text += f"; last check {when(float(check['checked_at']))}{seen}"
    return text


def _report(report: dict[str, Any] | None) -> str:
    if report is None:
        return "none yet (the daily run, or `starkrelay reconcile`)"
    text = (
        f"since {report['since']}, made {report['generated_at']}: {report['invoices']} "
        f"invoice(s), {brl(report['credited'])} credited, {brl(report['forwarded'])} forwarded"
    )
    if report["unexplained_outflow"]:
        text += f"; UNEXPLAINED OUTFLOW {brl(report['unexplained_outflow'])}"
    if report["reversed_after_forward"]:
        text += f"; {brl(report['reversed_after_forward'])} to recover (reversed after forward)"
    if report["disagreements"]:
        text += f"; {len(report['disagreements'])} invoice(s) disagree"
    return text
