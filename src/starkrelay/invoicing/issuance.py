"""Issuing each campaign slot exactly once, across replicas, crashes and a Redis that forgets.

For slot ``k`` of campaign ``c`` (``issue_slot``):

1. a final outcome recorded in ``campaign_slots(c)`` ends it; so does a ``failed`` one whose
   backoff has not run out (``invoicing.outcomes``);
2. while a re-adopted campaign settles (``adopted_at + settle_seconds``, see below) nothing is
   claimed;
3. the slot is claimed with ``SET NX`` + expiry and an owner token; a live claim held by
   another process ends it (that process is on it);
4. the slot's invoices are looked up at Stark Bank by the slot tag; found, they are recorded
   as issued (``recovered``) and nothing is created. This covers a crash between the create
   call and the record, whatever Redis remembers of it;
5. past the grace period (``fire_at + grace``) the slot is recorded skipped (a failed slot
   stays failed);
6. otherwise the whole batch is created in ONE ``create_invoices`` call carrying the
   campaign's tags, then the outcome is recorded. A refusal (HTTP 4xx) of the look-up or the
   create (wrong credentials, a rejected batch) records ``failed`` with a doubling retry time
   (``CAMPAIGN_RETRY_INITIAL_SECONDS`` up to ``CAMPAIGN_RETRY_MAX_SECONDS``); Stark Bank being
   unavailable records nothing (the next tick looks up, then creates).

While the create call runs, the claim is held (``store.hold`` every ``claim_seconds / 4``):
extended, or taken back if Redis lost it, so a slow create never lets a second process in.
After Redis loses its data, a replica that re-adopts the campaign waits ``settle_seconds``
(``claim_seconds / 2``) before claiming anything; by then a process whose create was in flight
has taken its claim back (step 3 stops the others) or its invoices exist (step 4 finds them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import structlog
from redis.exceptions import RedisError

from starkrelay.bank.errors import BankError, BankInputError
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Invoice
from starkrelay.core import metrics
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, claim, hold, new_token, release
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.outcomes import (
    SlotOutcome,
    load_outcome,
    load_outcomes,
    record_outcome,
    retry_wait,
)
from starkrelay.invoicing.payers import PayerFactory, build_invoices

log = structlog.get_logger("starkrelay.invoicing")

__all__ = ["SlotBusyError", "SlotIssuer", "SlotOutcome", "SlotRetryError"]


class SlotRetryError(Exception):
    """``retry_failed_slot`` refused: the slot is not one that can be re-issued."""


class SlotBusyError(SlotRetryError):
    """Another process holds the slot's claim right now."""


class SlotIssuer:
    """Issues campaign slots; one per process is enough (it keeps no slot state in memory
    that Redis does not also have)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        bank: BankGateway,
        *,
        clock: Callable[[], float] = time.time,
        claim_seconds: float | None = None,
        payers: PayerFactory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bank = bank
        self.clock = clock
        self.claim_seconds = claim_seconds or max(
            60.0, 2 * settings.bank_retry_deadline_seconds + 4 * settings.bank_timeout_seconds
        )
        self.payers = payers or PayerFactory()

    @property
    def settle_seconds(self) -> float:
        """How long a re-adopted campaign waits before claiming a slot: twice the period at
        which a process in the middle of a create re-asserts its claim."""
        return self.claim_seconds / 2

    def settling(self, campaign: Campaign, now: float) -> bool:
        """True while a campaign re-adopted from Stark Bank is too fresh to claim slots."""
        return campaign.adopted_at is not None and now < campaign.adopted_at + self.settle_seconds

    # --- outcomes -----------------------------------------------------------------------------
    async def outcomes(self, campaign: Campaign) -> dict[int, SlotOutcome]:
        """Every recorded slot outcome of ``campaign``, by slot."""
        return await load_outcomes(self.store, campaign.id)

    async def outcome(self, campaign: Campaign, slot: int) -> SlotOutcome | None:
        return await load_outcome(self.store, campaign.id, slot)

    async def _record(self, campaign: Campaign, outcome: SlotOutcome) -> SlotOutcome:
        """Record ``outcome`` (the slot's claim is held: a failed record may be replaced)."""
        return await record_outcome(self.store, campaign.id, outcome, replace_failed=True)

    def _waiting(self, campaign: Campaign, outcome: SlotOutcome | None, now: float) -> bool:
        """True when ``outcome`` settles the slot for now (final, or failed and backing off)."""
        if outcome is None:
            return False
        deadline = campaign.deadline(outcome.slot)
        return outcome.is_final(deadline, now) or not outcome.retry_due(deadline, now)

    # --- one slot -----------------------------------------------------------------------------
    async def issue_slot(self, campaign: Campaign, slot: int) -> SlotOutcome | None:
        """Resolve slot ``slot`` if it is due and nobody else is on it.

        Returns the recorded outcome (a ``failed`` one may still be retried later), or None
        when the slot is not due yet, the campaign is settling, or another process holds its
        claim. Raises ``BankError`` (after releasing the claim) when Stark Bank stayed
        unavailable: the next run retries, looking the batch up first.
        """
        now = self.clock()
        if not campaign.is_due(slot, now):
            return None
        done = await self.outcome(campaign, slot)
        if done is not None and self._waiting(campaign, done, now):
            return done
        if self.settling(campaign, now):
            return None
        claim_key = self.store.keys.slot_claim(campaign.id, slot)
        token = new_token()
        if not await claim(self.store.redis, claim_key, token, self.claim_seconds):
            return None
        try:
            done = await self.outcome(campaign, slot)
            if done is not None and self._waiting(campaign, done, self.clock()):
                return done
            return await self._issue_claimed(campaign, slot, done, claim_key, token)
        finally:
            await release(self.store.redis, claim_key, token)

    async def _issue_claimed(
        self,
        campaign: Campaign,
        slot: int,
        previous: SlotOutcome | None,
        claim_key: str,
        token: str,
        *,
        ignore_grace: bool = False,
    ) -> SlotOutcome:
        late = self.clock() > campaign.fire_at(slot) + min(60.0, campaign.interval / 2)
        try:
            if (found := await self._held_at_bank(campaign, slot, late)) is not None:
                return found
            if not ignore_grace and self.clock() > campaign.deadline(slot):
                if previous is not None:  # failed, and its grace is over: it stays failed
                    return previous
                return await self._record(
                    campaign, SlotOutcome(slot=slot, status="skipped", at=self.clock(), late=True)
                )
            async with self._holding(claim_key, token, campaign, slot):
                created = await self._create_batch(campaign.slot_tags(slot))
        except BankInputError as error:  # the look-up or the create refused (credentials...)
            attempts = (previous.attempts if previous is not None else 0) + 1
            wait = retry_wait(
                attempts,
                self.settings.campaign_retry_initial_seconds,
                self.settings.campaign_retry_max_seconds,
            )
            refused = SlotOutcome(
                slot=slot,
                status="failed",
                at=self.clock(),
                errors=tuple(error.codes),
                attempts=attempts,
                retry_at=self.clock() + wait,
            )
            return await self._record(campaign, refused)
        except BankError as error:
            log.error(
                "campaign.slot.unavailable", campaign_id=campaign.id, slot=slot, error=str(error)
            )
            raise
        issued = SlotOutcome(
            slot=slot,
            status="issued",
            at=self.clock(),
            invoice_ids=tuple(item.id for item in created),
            late=late,
            attempts=previous.attempts if previous is not None else 0,
        )
        return await self._record(campaign, issued)

    async def _held_at_bank(self, campaign: Campaign, slot: int, late: bool) -> SlotOutcome | None:
        """Record and return the slot as issued if Stark Bank already holds its invoices."""
        found = await self.bank.find_invoices_by_tags([campaign.slot_tag(slot)])
        if not found:
            return None
        log.warning("campaign.slot.found_by_tag", campaign_id=campaign.id, slot=slot, n=len(found))
        held = SlotOutcome(
            slot=slot,
            status="issued",
            at=self.clock(),
            invoice_ids=tuple(sorted(item.id for item in found)),
            recovered=True,
            late=late,
        )
        return await self._record(campaign, held)

    @asynccontextmanager
    async def _holding(
        self, claim_key: str, token: str, campaign: Campaign, slot: int
    ) -> AsyncIterator[None]:
        """Keep the slot's claim while the body runs: extended, or taken back if Redis lost it,
        every ``claim_seconds / 4``."""

        async def keep() -> None:
            while True:
                await asyncio.sleep(self.claim_seconds / 4)
                try:
                    state = await hold(self.store.redis, claim_key, token, self.claim_seconds)
                except RedisError as error:
                    log.warning(
                        "campaign.slot.claim_hold_failed",
                        campaign_id=campaign.id,
                        slot=slot,
                        error=str(error),
                    )
                    continue
                if state == "retaken":
                    log.warning("campaign.slot.claim_retaken", campaign_id=campaign.id, slot=slot)
                elif state == "lost":
                    log.error(
                        "campaign.slot.claim_lost",
                        campaign_id=campaign.id,
                        slot=slot,
                        note="another process claimed the slot while this one was creating it",
                    )

        keeper = asyncio.create_task(keep())
        try:
            yield
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper

    async def _create_batch(self, tags: tuple[str, ...], count: int | None = None) -> list[Invoice]:
        """Create one batch; ``tags[-1]`` must name this batch alone (safe-retry look-up key)."""
        settings = self.settings
        size = count or self.payers.rng.randint(
            settings.campaign_batch_min, settings.campaign_batch_max
        )
        invoices = build_invoices(
            self.payers,
            count=size,
            amount_min=settings.invoice_amount_min,
            amount_max=settings.invoice_amount_max,
            due_seconds=settings.invoice_due_seconds,
            expiration_seconds=settings.invoice_expiration_seconds,
            tags=tags,
            discount_percent=settings.invoice_discount_percent,
            discount_seconds=settings.invoice_discount_seconds,
        )
        return await self.bank.create_invoices(invoices, batch_tag=tags[-1])

    # --- every due slot -----------------------------------------------------------------------
    async def issue_due_slots(self, campaign: Campaign, start: int = 0) -> list[SlotOutcome]:
        """Resolve every due, unresolved slot from ``start`` on, oldest first; returns the
        outcomes recorded or found (slots held by another process are left out)."""
        now = self.clock()
        due = campaign.due_slots(now, start)
        if not due:
            return []
        recorded = await self.outcomes(campaign)
        results: list[SlotOutcome] = []
        for slot in due:
            if self._waiting(campaign, recorded.get(slot), now):
                results.append(recorded[slot])
                continue
            outcome = await self.issue_slot(campaign, slot)
            if outcome is not None:
                results.append(outcome)
        return results

    # --- an operator's re-issue ---------------------------------------------------------------
    async def retry_failed_slot(self, campaign: Campaign, slot: int) -> SlotOutcome:
        """Re-issue a slot Stark Bank refused, now, even past its grace (an operator's call).

        Safe to repeat: under the slot's claim, the slot's invoices are looked up by tag first
        and, if Stark Bank holds them, recorded instead of created; a slot already ``issued``
        is returned as is. Raises ``SlotRetryError`` for a slot that is not in the campaign,
        not due, or not failed (skipped slots are not re-issued), ``SlotBusyError`` when
        another process holds its claim, ``BankError`` when Stark Bank is unavailable.
        Returns the outcome now recorded (``failed`` again if Stark Bank refused again).
        """
        if slot < 0 or (campaign.slots is not None and slot >= campaign.slots):
            last = "endless" if campaign.slots is None else f"0 to {campaign.slots - 1}"
            raise SlotRetryError(f"slot {slot} is not in campaign {campaign.id} (slots: {last})")
        if not campaign.is_due(slot, self.clock()):
            raise SlotRetryError(f"slot {slot} is not due yet; nothing to retry")
        claim_key = self.store.keys.slot_claim(campaign.id, slot)
        token = new_token()
        if not await claim(self.store.redis, claim_key, token, self.claim_seconds):
            raise SlotBusyError(
                f"slot {slot} is being issued by another process right now; try again shortly"
            )
        try:
            done = await self.outcome(campaign, slot)
            if done is not None and done.status == "issued":
                return done
            if done is None or done.status != "failed":
                state = "no outcome yet" if done is None else done.status
                raise SlotRetryError(
                    f"slot {slot} is {state}, not failed; only failed slots can be retried"
                )
            log.info("campaign.slot.retry_requested", campaign_id=campaign.id, slot=slot)
            return await self._issue_claimed(
                campaign, slot, done, claim_key, token, ignore_grace=True
            )
        finally:
            await release(self.store.redis, claim_key, token)

    # --- ad hoc -------------------------------------------------------------------------------
    async def issue_adhoc_batch(self, count: int | None = None) -> list[Invoice]:
        """One batch now, outside the campaign (tags ``adhoc`` and ``adhoc:<id>``)."""
        batch_id = new_token()[:12]
        created = await self._create_batch(("adhoc", f"adhoc:{batch_id}"), count)
        metrics.INVOICES_ISSUED.inc(len(created))
        log.info("invoicing.adhoc.issued", batch_id=batch_id, invoices=len(created))
        return created
