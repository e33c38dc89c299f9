"""The people on the other side: they receive the campaign's invoices and pay (most of) them.

``Payers.watch`` follows the campaign in Redis (the same records ``starkrelay campaign
status`` reads); every newly issued batch is looked up at Stark Bank by its slot tag and each
invoice gets a payer with a plan:

- ``early``: pays soon after issue, inside the early-payment discount window (discount);
- ``on_time``: pays after the discount window, before the due date (full amount);
- ``late``: pays 1-20 days after the due date (2 % fine plus interest pro rata);
- ``never``: never pays (the invoice stays open; nothing must be forwarded for it).

Each batch holds one ``never``, two ``late``, two ``early`` and the rest ``on_time``, shuffled.
Payments happen through the sandbox's control API a random fraction of a campaign interval
after the batch is seen; the moment a payment is priced at (``at``) is chosen by the plan, so
a three-week-late payment needs no three-week wait.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from starkrelay.bank import BankGateway, Invoice
from starkrelay.core.store import Store
from starkrelay.demo.control import SandboxControl, SandboxControlError
from starkrelay.invoicing.campaign import Campaign, campaign_finished, load_campaign
from starkrelay.invoicing.issuance import SlotOutcome

log = structlog.get_logger("starkrelay.demo")

KINDS = ("early", "on_time", "late", "never")


@dataclass(frozen=True)
class Payment:
    """One payer's intention: pay ``invoice_id`` at monotonic time ``when``, priced at ``at``."""

    invoice_id: str
    kind: str
    when: float
    at: datetime | None


@dataclass
class PayerTally:
    """What the payers did so far (cents)."""

    planned: Counter[str] = field(default_factory=Counter)
    paid: Counter[str] = field(default_factory=Counter)
    paid_cents: int = 0
    discounts: int = 0
    fines_and_interest: int = 0
    refused: int = 0

    @property
    def payments(self) -> int:
        return sum(self.paid.values())


@dataclass(frozen=True)
class CampaignView:
    """The campaign as Redis records it."""

    campaign: Campaign | None
    slots_resolved: int
    invoices_issued: int
    finished: bool

    @property
    def slots_total(self) -> int:
        if self.campaign is None or self.campaign.slots is None:
            return 0
        return self.campaign.slots


def plan_batch(
    invoices: list[Invoice], rng: random.Random, interval: float, now: float
) -> list[Payment]:
    """A payer per invoice (see the module docstring for the mix and the timing)."""
    count = len(invoices)
    deck = ["never", "late", "late", "early", "early"][:count]
    deck += ["on_time"] * (count - len(deck))
    rng.shuffle(deck)
    plans = []
    for invoice, kind in zip(invoices, deck, strict=True):
        when = now + rng.uniform(0.1, 0.7) * interval
        due = invoice.due
        at: datetime | None = None
        if kind == "on_time" and due is not None:
            at = due - timedelta(hours=rng.uniform(1, 12))
        elif kind == "late" and due is not None:
            at = due + timedelta(days=rng.randint(1, 20), hours=rng.uniform(0, 23))
        plans.append(Payment(invoice.id, kind, when, at))
    return plans


class Payers:
    """Follows the campaign and pays its invoices as planned."""

    def __init__(
        self,
        store: Store,
        bank: BankGateway,
        control: SandboxControl,
        *,
        seed: int | None = None,
    ) -> None:
        self._store, self._bank, self._control = store, bank, control
        self._rng = random.Random(seed)
        self._planned_slots: set[int] = set()
        self._pending: list[Payment] = []
        self.tally = PayerTally()

    @property
    def waiting(self) -> int:
        """Payments planned and not made yet."""
        return len(self._pending)

    async def watch(self) -> CampaignView:
        """Read the campaign; plan payments for every batch issued since the last call."""
        campaign = await load_campaign(self._store)
        if campaign is None:
            return CampaignView(None, 0, 0, False)
        raw = await self._store.redis.hgetall(self._store.keys.campaign_slots(campaign.id))
        outcomes = [SlotOutcome.from_json(str(text)) for text in raw.values()]
        for outcome in sorted(outcomes, key=lambda item: item.slot):
            if outcome.slot in self._planned_slots or not outcome.invoice_ids:
                continue
            invoices = await self._bank.find_invoices_by_tags([campaign.slot_tag(outcome.slot)])
            plans = plan_batch(invoices, self._rng, campaign.interval, time.monotonic())
            self._pending += plans
            self.tally.planned.update(plan.kind for plan in plans)
            self._planned_slots.add(outcome.slot)
            log.info("demo.batch.planned", slot=outcome.slot, invoices=len(plans))
        finished = await campaign_finished(self._store, campaign, time.time())
        issued = sum(len(outcome.invoice_ids) for outcome in outcomes)
        return CampaignView(campaign, len(outcomes), issued, finished)

    async def pay_due(self) -> int:
        """Make every payment whose time has come; returns how many were made now."""
        now = time.monotonic()
        due = [plan for plan in self._pending if plan.when <= now]
        self._pending = [plan for plan in self._pending if plan.when > now]
        made = 0
        for plan in due:
            if plan.kind == "never":
                continue
            try:
                invoice = await self._control.pay_invoice(plan.invoice_id, at=plan.at)
            except SandboxControlError as error:
                self.tally.refused += 1
                log.error("demo.payment.refused", invoice_id=plan.invoice_id, error=str(error))
                continue
            made += 1
            self.tally.paid[plan.kind] += 1
            self.tally.paid_cents += int(invoice["amount"])
            self.tally.discounts += int(invoice.get("discountAmount") or 0)
            self.tally.fines_and_interest += int(invoice.get("fineAmount") or 0) + int(
                invoice.get("interestAmount") or 0
            )
            log.info(
                "demo.invoice.paid",
                invoice_id=plan.invoice_id,
                kind=plan.kind,
                amount=invoice["amount"],
            )
        return made
