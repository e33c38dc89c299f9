"""Invoices: ``issue`` (an ad-hoc batch) and ``campaign status|start|retry-slot``."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starkrelay.cli import common
from starkrelay.core.money import brl

if TYPE_CHECKING:
    from starkrelay.api.deps import Services
    from starkrelay.invoicing.campaign import Campaign
    from starkrelay.invoicing.outcomes import SlotOutcome


@common.app.command()
def issue(
    count: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100,
            metavar="N",
            help="Invoices (default: random between CAMPAIGN_BATCH_MIN and CAMPAIGN_BATCH_MAX).",
        ),
    ] = None,
    as_json: common.JsonOption = False,
) -> None:
    """Issue one ad-hoc batch of invoices now (outside the campaign) and print it."""
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.issuance import SlotIssuer

    async def work(services: Services) -> Any:
        issuer = SlotIssuer(services.settings, services.store, services.bank)
        with common.working("Creating invoices at Stark Bank...", quiet=as_json):
            return await issuer.issue_adhoc_batch(count)

    with common.failing(BankError):
        invoices = common.run_with_services(work)
    if as_json:
        common.print_json([asdict(item) for item in invoices])
        return
    table = common.new_table(
        f"{len(invoices)} invoices issued", "id", "name", "tax id", "amount", "due", "status"
    )
    for item in invoices:
        due = item.due.strftime("%Y-%m-%d %H:%M") if item.due else "-"
        table.add_row(item.id, item.name, item.tax_id, brl(item.amount), due, item.status)
    common.console.print(table)


@common.campaign_app.command("status")
def campaign_status(as_json: common.JsonOption = False) -> None:
    """The current campaign: start, slots, and what happened to each."""
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.campaign import load_campaign
    from starkrelay.invoicing.issuance import SlotIssuer
    from starkrelay.invoicing.lifecycle import CampaignRecoveryError, find_campaign_in_bank
    from starkrelay.invoicing.outcomes import SlotOutcome

    async def work(services: Services) -> Any:
        campaign = await load_campaign(services.store)
        if campaign is None:  # Redis lost it, or nothing started: what Stark Bank holds
            found = await find_campaign_in_bank(services.bank)
            if found is None:
                return None, {}, False
            now = time.time()
            outcomes = {
                slot: SlotOutcome(slot, "issued", now, ids, recovered=True)
                for slot, ids in found.held.items()
            }
            return found.campaign, outcomes, True
        issuer = SlotIssuer(services.settings, services.store, services.bank)
        return campaign, await issuer.outcomes(campaign), False

    why = "Redis holds no campaign and Stark Bank could not tell which is current: {error}"
    with common.failing(BankError, CampaignRecoveryError, why=why):
        campaign, outcomes, from_bank = common.run_with_services(work, reads_state=True)
    if as_json:
        common.print_json(_campaign_json(campaign, outcomes, from_bank))
        return
    if campaign is None:
        common.console.print(
            "No campaign yet: Stark Bank holds no campaign invoice of ours, so the first "
            "scheduler tick starts one."
        )
        return
    if from_bank:
        common.console.print(
            "Redis holds no campaign record; this is the latest campaign in Stark Bank's "
            "invoices, which the scheduler re-adopts on its next tick."
        )
    now = time.time()
    title = f"campaign {campaign.id} ({_state(campaign, outcomes, now)})"
    table = common.new_table(title, "slot", "fires at", "outcome", "invoices", "notes")
    for slot in range(_slots_shown(campaign, outcomes)):
        outcome = outcomes.get(slot)
        table.add_row(
            str(slot),
            common.when(campaign.fire_at(slot), precise=campaign.interval < 60),
            _outcome(campaign, outcome, slot, now),
            str(len(outcome.invoice_ids)) if outcome else "-",
            _notes(outcome, campaign.deadline(slot), now) if outcome else "",
        )
    common.console.print(table)
    common.console.print(
        f"t0 {common.when(campaign.t0)}, every {campaign.interval:g} s, "
        f"{'endless' if campaign.slots is None else f'{campaign.slots} slots'}, "
        f"ends {common.when(campaign.ends_at())}"
    )


def _slots_shown(campaign: Campaign, outcomes: dict[int, SlotOutcome]) -> int:
    return campaign.slots if campaign.slots is not None else max([*outcomes, -1]) + 2


def _state(campaign: Campaign, outcomes: dict[int, SlotOutcome], now: float) -> str:
    finished = campaign.slots is not None and all(
        slot in outcomes and outcomes[slot].is_final(campaign.deadline(slot), now)
        for slot in range(campaign.slots)
    )
    return "ended" if finished or campaign.is_over(now) else "running"


def _outcome(campaign: Campaign, outcome: SlotOutcome | None, slot: int, now: float) -> str:
    if outcome is not None:
        return outcome.status
    return "due" if campaign.is_due(slot, now) else "pending"


def _campaign_json(
    campaign: Campaign | None, outcomes: dict[int, SlotOutcome], from_bank: bool
) -> dict[str, Any]:
    """``campaign status --json``: the campaign, its state and every slot (None: none yet)."""
    if campaign is None:
        return {"campaign": None, "state": None, "from_stark_bank": False, "slots": []}
    now = time.time()
    slots = []
    for slot in range(_slots_shown(campaign, outcomes)):
        outcome = outcomes.get(slot)
        slots.append(
            {
                "slot": slot,
                "fires_at": campaign.fire_at(slot),
                "outcome": _outcome(campaign, outcome, slot, now),
                "record": None if outcome is None else asdict(outcome),
            }
        )
    return {
        "campaign": asdict(campaign) | {"ends_at": campaign.ends_at()},
        "state": _state(campaign, outcomes, now),
        "from_stark_bank": from_bank,
        "slots": slots,
    }


def _notes(outcome: SlotOutcome, deadline: float, now: float) -> str:
    notes = []
    if outcome.recovered:
        notes.append("found by tag")
    if outcome.late:
        notes.append("late")
    if outcome.errors:
        notes.append(",".join(outcome.errors))
    if outcome.status == "failed":
        if outcome.is_final(deadline, now):
            notes.append("grace over: `campaign retry-slot` re-issues it")
        elif outcome.retry_at is not None:
            notes.append(f"refused {outcome.attempts}x, retried at {common.when(outcome.retry_at)}")
    return " ".join(notes)


@common.campaign_app.command("start")
def campaign_start(
    force: Annotated[
        bool, typer.Option("--force", help="Replace a campaign that is still running.")
    ] = False,
) -> None:
    """Start a new campaign now (t0 = now): the only way a new campaign starts once one exists
    (in Redis or in Stark Bank's invoices)."""
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.lifecycle import (
        CampaignRecoveryError,
        CampaignRunningError,
        start_campaign,
    )

    async def work(services: Services) -> Any:
        return await start_campaign(services.store, services.settings, services.bank, force=force)

    why = "could not check the current campaign at Stark Bank; nothing started: {error}"
    with (
        common.failing(CampaignRunningError),
        common.failing(BankError, CampaignRecoveryError, why=why),
    ):
        campaign = common.run_with_services(work, reads_state=True)
    common.console.print(f"Started campaign {campaign.id} at {common.when(campaign.t0)}.")


@common.campaign_app.command("retry-slot")
def campaign_retry_slot(
    slot: Annotated[
        int, typer.Argument(min=0, metavar="SLOT", help="The failed slot to re-issue (0-based).")
    ],
) -> None:
    """Re-issue a slot Stark Bank refused, now (even past its grace), once the cause is fixed.

    Looks the slot's invoices up at Stark Bank first (tag campaign:<id>:slot:<N>): if they
    exist they are recorded and nothing is created, so retrying twice never issues twice.
    """
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.campaign import load_campaign
    from starkrelay.invoicing.issuance import SlotIssuer, SlotRetryError
    from starkrelay.invoicing.lifecycle import (
        CampaignRecoveryError,
        current_campaign,
        find_campaign_in_bank,
    )

    async def work(services: Services) -> Any:
        settings = services.settings
        campaign = await load_campaign(services.store)
        if campaign is None:  # Redis lost it: re-adopt it, as the scheduler would
            if await find_campaign_in_bank(services.bank) is None:
                raise SlotRetryError("no campaign has started yet; nothing to retry")
            campaign = await current_campaign(services.store, settings, services.bank)
        issuer = SlotIssuer(settings, services.store, services.bank)
        before = await issuer.outcome(campaign, slot)
        return campaign, before, await issuer.retry_failed_slot(campaign, slot)

    why = f"slot {slot}: Stark Bank could not be reached; nothing was issued: {{error}}"
    with common.failing(SlotRetryError), common.failing(BankError, CampaignRecoveryError, why=why):
        campaign, before, outcome = common.run_with_services(work, reads_state=True)
    if before is not None and before.status == "issued":
        common.console.print(
            f"Slot {slot} of campaign {campaign.id} is already issued "
            f"({len(outcome.invoice_ids)} invoices); nothing done."
        )
    elif outcome.status == "issued":
        how = "found at Stark Bank (nothing created)" if outcome.recovered else "issued"
        common.console.print(
            f"Slot {slot} of campaign {campaign.id}: {len(outcome.invoice_ids)} invoices {how}."
        )
    else:
        common.fail(f"slot {slot}: Stark Bank refused it again ({', '.join(outcome.errors)})")
