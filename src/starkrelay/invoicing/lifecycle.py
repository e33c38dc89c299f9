"""Which campaign is current, and how a new one starts.

Stark Bank's invoices are the campaign's durable record; Redis only coordinates. So:

- ``current_campaign`` (every scheduler tick) returns Redis's record when there is one. When
  Redis has none (it restarted empty, or starkrelay points at a new Redis), it reads the
  latest campaign from the invoices Stark Bank holds (tags, see ``invoicing.campaign``) and
  re-adopts it: same id, same ``t0``, same schedule; every slot Stark Bank holds invoices for
  is recorded ``issued`` (``recovered``). Only when Stark Bank holds no campaign invoice of
  ours at all (a fresh install) does it start the first campaign itself. If Stark Bank cannot
  be read, it raises and nothing starts: the next tick tries again.
- ``start_campaign`` (``starkrelay campaign start``, an operator's decision) is the only other
  way a campaign starts. It refuses while the current campaign, in Redis or in Stark Bank,
  still has slots to come (unless forced).

Concurrent callers agree: the record is written with ``SET NX``, held slots with ``HSETNX``.
A re-adopted record carries ``adopted_at``; the issuer waits a settling time after it before
creating anything, so a create that was in flight when Redis lost its data is seen first
(``invoicing.issuance``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import structlog

from starkrelay.bank.gateway import BankGateway
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.invoicing.campaign import (
    CAMPAIGN_MARK,
    Campaign,
    campaign_finished,
    describe_end,
    load_campaign,
    new_campaign,
)
from starkrelay.invoicing.outcomes import SlotOutcome, record_outcome

log = structlog.get_logger("starkrelay.invoicing")


class CampaignRunningError(Exception):
    """A campaign is still running; starting another needs ``force``."""


class CampaignRecoveryError(Exception):
    """Stark Bank holds campaign invoices whose plan cannot be read: nothing is started."""


@dataclass(frozen=True)
class BankCampaign:
    """The latest campaign as Stark Bank's invoices describe it, and its slots' invoice ids."""

    campaign: Campaign
    held: dict[int, tuple[str, ...]]

    def finished(self, now: float) -> bool:
        """True when every slot is held or every slot's grace has passed."""
        slots = self.campaign.slots
        if slots is None:
            return False
        return self.campaign.is_over(now) or all(slot in self.held for slot in range(slots))


async def find_campaign_in_bank(bank: BankGateway) -> BankCampaign | None:
    """The latest campaign Stark Bank holds invoices of (highest ``t0`` among the newest
    invoices tagged ``starkrelay-campaign``), with the invoice ids of each slot; None when
    Stark Bank holds no campaign invoice of ours. Raises ``BankError`` when Stark Bank cannot be
    read, ``CampaignRecoveryError`` when campaign invoices exist but none carries a plan."""
    newest = await bank.latest_invoices_by_tag(CAMPAIGN_MARK)
    if not newest:
        return None
    plans = [
        plan
        for invoice in newest
        for tag in invoice.tags
        if (plan := Campaign.from_plan_tag(tag)) is not None
    ]
    if not plans:
        raise CampaignRecoveryError(
            f"Stark Bank holds invoices tagged {CAMPAIGN_MARK!r} but none carries a campaign "
            "plan tag; start a campaign explicitly with `starkrelay campaign start`"
        )
    latest = max(plans, key=lambda plan: (plan.t0, plan.id))
    held: dict[int, list[str]] = {}
    for invoice in await bank.find_invoices_by_tags([latest.tag]):
        slot = latest.slot_of(invoice.tags)
        if slot is not None:
            held.setdefault(slot, []).append(invoice.id)
    return BankCampaign(latest, {slot: tuple(sorted(ids)) for slot, ids in held.items()})


async def current_campaign(
    store: Store, settings: Settings, bank: BankGateway, now: float | None = None
) -> Campaign:
    """The current campaign: Redis's record, else the one re-adopted from Stark Bank, else
    (Stark Bank holds no campaign invoice of ours) a new one starting at ``now``.

    An ended campaign is returned as is: it stays ended. Raises ``BankError`` or
    ``CampaignRecoveryError`` (nothing written) when Redis has no record and Stark Bank cannot
    tell which campaign is current.
    """
    current = await load_campaign(store)
    if current is not None:
        return current
    moment = time.time() if now is None else now
    found = await find_campaign_in_bank(bank)
    candidate = (
        new_campaign(settings, moment)
        if found is None
        else replace(found.campaign, adopted_at=moment)
    )
    written = await store.redis.set(store.keys.campaign(), candidate.to_json(), nx=True)
    current = await load_campaign(store)
    if current is None:  # pragma: no cover - only if someone deletes it in between
        raise RuntimeError("the campaign record vanished right after it was written")
    if found is not None and current.same_plan(found.campaign):
        for slot, invoice_ids in sorted(found.held.items()):
            outcome = SlotOutcome(
                slot=slot, status="issued", at=moment, invoice_ids=invoice_ids, recovered=True
            )
            await record_outcome(store, current.id, outcome, replace_failed=True)
    if written and found is not None:
        log.warning(
            "campaign.adopted",
            **current.log_fields(),
            slots_held=sorted(found.held),
            note="Redis held no campaign; re-adopted the latest one from Stark Bank's invoices",
        )
    elif written:
        log.info("campaign.started", campaign_id=current.id, t0=current.t0, first=True)
    return current


async def start_campaign(
    store: Store,
    settings: Settings,
    bank: BankGateway,
    *,
    now: float | None = None,
    force: bool = False,
) -> Campaign:
    """Start a new campaign at ``now`` (an operator's decision); the previous record moves to
    the history list.

    The previous campaign is Redis's record, else the latest one in Stark Bank. Refuses
    (``CampaignRunningError``) while it still has slots to come, unless ``force``. Slots of the
    old campaign are never issued again: its id changes.
    """
    moment = time.time() if now is None else now
    current = await load_campaign(store)
    if current is not None:
        running = not await campaign_finished(store, current, moment)
    else:
        found = await find_campaign_in_bank(bank)
        current = None if found is None else found.campaign
        running = found is not None and not found.finished(moment)
    if current is not None and running and not force:
        raise CampaignRunningError(
            f"campaign {current.id} is still running (it ends {describe_end(current)}); "
            "use --force to replace it"
        )
    campaign = new_campaign(settings, moment)
    async with store.redis.pipeline(transaction=True) as pipe:
        if current is not None:
            pipe.lpush(store.keys.campaign_history(), current.to_json())
        pipe.set(store.keys.campaign(), campaign.to_json())
        await pipe.execute()
    log.info(
        "campaign.started",
        campaign_id=campaign.id,
        t0=campaign.t0,
        replaced=None if current is None else current.id,
        forced=force and running,
    )
    return campaign
