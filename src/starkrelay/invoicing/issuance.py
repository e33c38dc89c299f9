"""Issuing each campaign slot exactly once, across replicas and crashes.

For slot ``k`` of campaign ``c`` (``issue_slot``):

1. an outcome already recorded in ``campaign_slots(c)`` ends it (outcomes are final);
2. the slot is claimed with ``SET NX`` + expiry and an owner token; a live claim held by
   another process ends it (that process is on it);
3. if an *attempt marker* exists, a previous run reached the create call and may have
   created the batch: it is looked up by the slot tag and, if found, recorded as issued
   (``recovered``) without creating anything;
4. past the grace period (``fire_at + grace``) a slot is recorded as skipped;
5. otherwise the attempt marker is written, then the whole batch is created in ONE
   ``create_invoices`` call tagged with the campaign and slot, then the outcome is
   recorded (``HSETNX``) and the claim released (only by its owner).

A crash anywhere leaves either no marker (nothing was sent: the next run creates), or a
marker (the next run looks the batch up first). The claim outlives one create call with all
its retries, so two live processes never both reach step 5 for one slot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from starkrelay.bank.errors import BankError, BankInputError
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Invoice
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.payers import PayerFactory, build_invoices
from starkrelay.ops import metrics
from starkrelay.settings import Settings
from starkrelay.store import Keys, Redis, claim, new_token, release

log = structlog.get_logger("starkrelay.invoicing")

ATTEMPT_MARKER_SECONDS = 40 * 86400
"""Attempt markers expire long after any grace period could still use them."""


@dataclass(frozen=True)
class SlotOutcome:
    """The final record of one slot: ``issued`` (with the invoice ids), ``skipped`` or
    ``failed`` (Stark Bank refused the batch; ``errors`` holds the provider codes)."""

    slot: int
    status: str
    at: float
    invoice_ids: tuple[str, ...] = ()
    recovered: bool = False
    late: bool = False
    errors: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(
            {
                "slot": self.slot,
                "status": self.status,
                "at": self.at,
                "invoice_ids": list(self.invoice_ids),
                "recovered": self.recovered,
                "late": self.late,
                "errors": list(self.errors),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SlotOutcome:
        data = json.loads(text)
        return cls(
            slot=int(data["slot"]),
            status=str(data["status"]),
            at=float(data["at"]),
            invoice_ids=tuple(data.get("invoice_ids", ())),
            recovered=bool(data.get("recovered", False)),
            late=bool(data.get("late", False)),
            errors=tuple(data.get("errors", ())),
        )


class SlotIssuer:
    """Issues campaign slots; one per process is enough (it keeps no slot state in memory
    that Redis does not also have)."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        keys: Keys,
        bank: BankGateway,
        *,
        clock: Callable[[], float] = time.time,
        claim_seconds: float | None = None,
        payers: PayerFactory | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.bank = bank
        self.clock = clock
        self.claim_seconds = claim_seconds or max(
            60.0, 2 * settings.bank_retry_deadline_seconds + 4 * settings.bank_timeout_seconds
        )
        self.payers = payers or PayerFactory()

    # --- outcomes -----------------------------------------------------------------------------
    async def outcomes(self, campaign: Campaign) -> dict[int, SlotOutcome]:
        """Every recorded slot outcome of ``campaign``, by slot."""
        raw = await self.redis.hgetall(self.keys.campaign_slots(campaign.id))
        return {int(k): SlotOutcome.from_json(str(v)) for k, v in raw.items()}

    async def outcome(self, campaign: Campaign, slot: int) -> SlotOutcome | None:
        text = await self.redis.hget(self.keys.campaign_slots(campaign.id), str(slot))
        return None if text is None else SlotOutcome.from_json(str(text))

    async def _record(self, campaign: Campaign, outcome: SlotOutcome) -> SlotOutcome:
        """Write ``outcome`` unless one exists; returns the one that is recorded."""
        slots_key = self.keys.campaign_slots(campaign.id)
        written = await self.redis.hsetnx(slots_key, str(outcome.slot), outcome.to_json())
        if not written:
            existing = await self.outcome(campaign, outcome.slot)
            return existing or outcome
        await self.redis.delete(self.keys.slot_attempt(campaign.id, outcome.slot))
        kind = "recovered" if outcome.recovered else outcome.status
        metrics.CAMPAIGN_SLOTS.labels(outcome=kind).inc()
        if outcome.status == "issued":  # counted once: only the HSETNX winner gets here
            metrics.INVOICES_ISSUED.inc(len(outcome.invoice_ids))
        log.info(
            f"campaign.slot.{outcome.status}",
            campaign_id=campaign.id,
            slot=outcome.slot,
            invoices=len(outcome.invoice_ids),
            recovered=outcome.recovered,
            late=outcome.late,
            errors=list(outcome.errors) or None,
        )
        return outcome

    # --- one slot -----------------------------------------------------------------------------
    async def issue_slot(self, campaign: Campaign, slot: int) -> SlotOutcome | None:
        """Resolve slot ``slot`` if it is due and nobody else is on it.

        Returns the recorded outcome, or None when the slot is not due yet or another
        process holds its claim. Raises ``BankError`` (after releasing the claim) when
        Stark Bank stayed unavailable: the next run retries, looking the batch up first.
        """
        now = self.clock()
        if not campaign.is_due(slot, now):
            return None
        if (done := await self.outcome(campaign, slot)) is not None:
            return done
        claim_key = self.keys.slot_claim(campaign.id, slot)
        token = new_token()
        if not await claim(self.redis, claim_key, token, self.claim_seconds):
            return None
        try:
            if (done := await self.outcome(campaign, slot)) is not None:
                return done
            return await self._issue_claimed(campaign, slot)
        finally:
            await release(self.redis, claim_key, token)

    async def _issue_claimed(self, campaign: Campaign, slot: int) -> SlotOutcome:
        attempt_key = self.keys.slot_attempt(campaign.id, slot)
        late = self.clock() > campaign.fire_at(slot) + min(60.0, campaign.interval / 2)
        if await self.redis.exists(attempt_key):
            found = await self.bank.find_invoices_by_tags([campaign.slot_tag(slot)])
            if found:
                log.warning(
                    "campaign.slot.found_by_tag", campaign_id=campaign.id, slot=slot, n=len(found)
                )
                return await self._record(
                    campaign,
                    SlotOutcome(
                        slot=slot,
                        status="issued",
                        at=self.clock(),
                        invoice_ids=tuple(sorted(item.id for item in found)),
                        recovered=True,
                        late=late,
                    ),
                )
        if self.clock() > campaign.deadline(slot):
            return await self._record(
                campaign, SlotOutcome(slot=slot, status="skipped", at=self.clock(), late=True)
            )
        await self.redis.set(attempt_key, str(self.clock()), ex=ATTEMPT_MARKER_SECONDS)
        try:
            created = await self._create_batch((campaign.tag, campaign.slot_tag(slot)))
        except BankInputError as error:
            return await self._record(
                campaign,
                SlotOutcome(slot=slot, status="failed", at=self.clock(), errors=tuple(error.codes)),
            )
        except BankError as error:
            log.error(
                "campaign.slot.unavailable", campaign_id=campaign.id, slot=slot, error=str(error)
            )
            raise
        return await self._record(
            campaign,
            SlotOutcome(
                slot=slot,
                status="issued",
                at=self.clock(),
                invoice_ids=tuple(item.id for item in created),
                late=late,
            ),
        )

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
            if slot in recorded:
                results.append(recorded[slot])
                continue
            outcome = await self.issue_slot(campaign, slot)
            if outcome is not None:
                results.append(outcome)
        return results

    # --- ad hoc -------------------------------------------------------------------------------
    async def issue_adhoc_batch(self, count: int | None = None) -> list[Invoice]:
        """One batch now, outside the campaign (tags ``adhoc`` and ``adhoc:<id>``)."""
        batch_id = new_token()[:12]
        created = await self._create_batch(("adhoc", f"adhoc:{batch_id}"), count)
        metrics.INVOICES_ISSUED.inc(len(created))
        log.info("invoicing.adhoc.issued", batch_id=batch_id, invoices=len(created))
        return created
