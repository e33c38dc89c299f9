"""Invoices: ``issue`` (an ad-hoc batch) and ``campaign status|start``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from starkrelay.cli.common import (
    app,
    campaign_app,
    cents,
    console,
    fail,
    load_or_exit,
    run_with_services,
    when,
)

if TYPE_CHECKING:
    from starkrelay.deps import Services


@app.command()
def issue(
    count: Annotated[
        int | None, typer.Option(min=1, max=100, help="Invoices (default: random in range).")
    ] = None,
) -> None:
    """Issue one ad-hoc batch of invoices now (outside the campaign) and print it."""
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.issuance import SlotIssuer

    settings = load_or_exit()

    async def work(services: Services) -> Any:
        issuer = SlotIssuer(settings, services.redis, services.keys, services.bank)
        with console.status("Creating invoices at Stark Bank..."):
            return await issuer.issue_adhoc_batch(count)

    try:
        invoices = run_with_services(settings, work)
    except BankError as error:
        fail(str(error))
        return
    table = Table(title=f"{len(invoices)} invoices issued")
    for column in ("id", "name", "tax id", "amount", "due", "status"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for item in invoices:
        due = item.due.strftime("%Y-%m-%d %H:%M") if item.due else "-"
        table.add_row(item.id, item.name, item.tax_id, cents(item.amount), due, item.status)
    console.print(table)


@campaign_app.command("status")
def campaign_status() -> None:
    """The current campaign: start, slots, and what happened to each."""
    import time

    from starkrelay.invoicing.campaign import load_campaign
    from starkrelay.invoicing.issuance import SlotIssuer

    settings = load_or_exit()

    async def work(services: Services) -> Any:
        campaign = await load_campaign(services.redis, services.keys)
        if campaign is None:
            return None, {}
        issuer = SlotIssuer(settings, services.redis, services.keys, services.bank)
        return campaign, await issuer.outcomes(campaign)

    campaign, outcomes = run_with_services(settings, work, reads_state=True)
    if campaign is None:
        console.print("No campaign yet: the first scheduler tick starts one.")
        return
    now = time.time()
    slots = campaign.slots if campaign.slots is not None else max([*outcomes, -1]) + 2
    finished = campaign.slots is not None and len(outcomes) >= campaign.slots
    state = "ended" if finished or campaign.is_over(now) else "running"
    table = Table(title=f"campaign {campaign.id} ({state})")
    for column in ("slot", "fires at", "outcome", "invoices", "notes"):
        table.add_column(column)
    for slot in range(slots):
        outcome = outcomes.get(slot)
        notes = []
        if outcome is not None and outcome.recovered:
            notes.append("found by tag")
        if outcome is not None and outcome.late:
            notes.append("late")
        if outcome is not None and outcome.errors:
            notes.append(",".join(outcome.errors))
        table.add_row(
            str(slot),
            when(campaign.fire_at(slot), precise=campaign.interval < 60),
            outcome.status if outcome else ("due" if campaign.is_due(slot, now) else "pending"),
            str(len(outcome.invoice_ids)) if outcome else "-",
            " ".join(notes),
        )
    console.print(table)
    console.print(
        f"t0 {when(campaign.t0)}, every {campaign.interval:g} s, "
        f"{'endless' if campaign.slots is None else f'{campaign.slots} slots'}, "
        f"ends {when(campaign.ends_at())}"
    )


@campaign_app.command("start")
def campaign_start(
    force: Annotated[bool, typer.Option(help="Replace a campaign that is still running.")] = False,
) -> None:
    """Start a new campaign now (t0 = now); the only way to issue again after one ended."""
    from starkrelay.invoicing.campaign import CampaignRunningError, start_campaign

    settings = load_or_exit()

    async def work(services: Services) -> Any:
        return await start_campaign(services.redis, services.keys, settings, force=force)

    try:
        campaign = run_with_services(settings, work, reads_state=True)
    except CampaignRunningError as error:
        fail(str(error))
        return
    console.print(f"Started campaign {campaign.id} at {when(campaign.t0)}.")
