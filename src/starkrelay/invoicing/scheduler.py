"""The campaign clock: a periodic tick in every replica; Redis decides who issues each slot.

Every replica runs ``CampaignRunner.tick`` every ``tick_seconds`` (the background part
``campaign_scheduler``, through ``core.supervision.every``); each tick resolves the due slots
through ``SlotIssuer`` (claims in Redis), so replicas may come and go and a restarted process
picks up where the campaign is, never where it was when the process started. A tick that finds no
campaign in Redis re-adopts the latest one from Stark Bank's invoices; only on a fresh install
(no campaign invoice of ours at Stark Bank) does the first tick start one
(``invoicing.lifecycle``). After a campaign is over, ticks do nothing until
``starkrelay campaign start`` writes a new one.
"""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError

from starkrelay.bank.errors import BankError
from starkrelay.core import metrics
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.issuance import SlotIssuer, SlotOutcome
from starkrelay.invoicing.lifecycle import CampaignRecoveryError, current_campaign

log = structlog.get_logger("starkrelay.invoicing")


def tick_seconds(interval: float, grace: float) -> float:
    """How often replicas look for due slots: a quarter interval and at most a quarter of the
    grace period (so a due slot is seen several times before its grace runs out), between
    20 ms and 10 s. A grace of 0 (never issue late) does not make it tick faster."""
    window = min(interval, grace) if grace > 0 else interval
    return min(10.0, max(0.02, window / 4))


class CampaignRunner:
    """What one scheduler tick does. Remembers only the first unresolved slot, to avoid
    re-reading a long (endless) campaign's history on every tick; forgets it when the campaign
    changes or is re-adopted (Redis lost the outcomes, every slot is looked at again)."""

    def __init__(self, issuer: SlotIssuer) -> None:
        self.issuer = issuer
        self._seen: tuple[str, float | None] | None = None
        self._first_open = 0
        self._announced_end: str | None = None

    async def tick(self) -> list[SlotOutcome]:
        """Resolve due slots of the current campaign (re-adopting it from Stark Bank, or on a
        fresh install starting it, if Redis has none). Never raises Redis or Stark Bank errors:
        they are logged and the next tick retries."""
        try:
            outcomes = await self._tick()
        except (BankError, RedisError, CampaignRecoveryError) as error:
            if isinstance(error, RedisError):
                metrics.REDIS_UP.set(0)
            log.error("campaign.tick.failed", error=str(error), kind=type(error).__name__)
            return []
        metrics.REDIS_UP.set(1)
        return outcomes

    async def _tick(self) -> list[SlotOutcome]:
        s = self.issuer
        campaign = await current_campaign(s.store, s.settings, s.bank, now=self.issuer.clock())
        if (campaign.id, campaign.adopted_at) != self._seen:
            self._seen, self._first_open = (campaign.id, campaign.adopted_at), 0
            log.info("campaign.current", **campaign.log_fields(), adopted_at=campaign.adopted_at)
        outcomes = await self.issuer.issue_due_slots(campaign, start=self._first_open)
        now = self.issuer.clock()
        resolved = {
            outcome.slot
            for outcome in outcomes
            if outcome.is_final(campaign.deadline(outcome.slot), now)
        }
        while self._first_open in resolved:
            self._first_open += 1
        self._announce_end(campaign)
        return outcomes

    def _announce_end(self, campaign: Campaign) -> None:
        over = campaign.slots is not None and self._first_open >= campaign.slots
        if over and self._announced_end != campaign.id:
            self._announced_end = campaign.id
            log.info("campaign.ended", campaign_id=campaign.id, slots=campaign.slots)
