"""What the overview shows: the campaign's slots, the money funnel, the forwards in flight,
waiting and dead, the last money report, and the health of each part.

The counts are ``status_body``'s (the same numbers as ``GET /api/v1/status``). The funnel's
first steps (issued, paid, credited) are Stark Bank's own records of the current campaign,
read at most every ``BANK_SNAPSHOT_SECONDS`` per process; the later ones (seen, forwarded,
settled) are starkrelay's ledgers of the same campaign's invoices (of the newest
``LEDGER_SCAN_LIMIT`` invoices when there is no campaign), so a page reads as many ledgers as
the campaign issued invoices, whatever the ledger holds besides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from starkrelay.api.deps import Services
from starkrelay.api.status import status_body
from starkrelay.bank import BankError
from starkrelay.console.money_view import Equation, equation
from starkrelay.console.needs import unresolved_slots
from starkrelay.core.store import redis_answers
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.invoicing.outcomes import SlotOutcome, load_outcomes
from starkrelay.reconciliation.report import MoneyReport

log = structlog.get_logger(__name__)

BANK_SNAPSHOT_SECONDS = 15.0
LEDGER_SCAN_LIMIT = 20000
"""The newest ledger records the funnel adds up (far more than a campaign issues)."""


@dataclass(frozen=True)
class SlotView:
    slot: int
    status: str
    """issued, skipped, failed, pending (its time has not come) or due (being issued)."""
    fire_at: float
    invoices: int = 0
    late: bool = False
    recovered: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunnelStep:
    name: str
    count: int | None
    cents: int | None
    source: str
    note: str = ""


@dataclass(frozen=True)
class Part:
    """One part's health: ``ok`` True (fine), False (needs a look) or None (not running)."""

    name: str
    ok: bool | None
    detail: str


@dataclass
class BankSnapshot:
    at: float
    issued: tuple[int, int] = (0, 0)
    paid: tuple[int, int] = (0, 0)
    credited: tuple[int, int] = (0, 0)
    error: str | None = None


_SNAPSHOTS: dict[tuple[str, str], BankSnapshot] = {}


def slot_views(campaign: Campaign, outcomes: dict[int, SlotOutcome], now: float) -> list[SlotView]:
    """Every slot of ``campaign`` (up to the next one for an endless campaign)."""
    count = campaign.slots
    if count is None:
        last = campaign.last_due_slot(now)
        count = 1 if last is None else last + 2
    views: list[SlotView] = []
    for slot in range(count):
        outcome = outcomes.get(slot)
        if outcome is not None:
            views.append(
                SlotView(
                    slot, outcome.status, campaign.fire_at(slot), len(outcome.invoice_ids),
                    outcome.late, outcome.recovered, outcome.errors,
                )
            )  # fmt: skip
        else:
            status = "due" if campaign.is_due(slot, now) else "pending"
            views.append(SlotView(slot, status, campaign.fire_at(slot)))
    return views


async def _bank_snapshot(services: Services, campaign: Campaign) -> BankSnapshot:
    key = (services.store.keys.prefix, campaign.id)
    cached = _SNAPSHOTS.get(key)
    if cached is not None and time.time() - cached.at < BANK_SNAPSHOT_SECONDS:
        return cached
    snapshot = BankSnapshot(at=time.time())
    try:
        invoices = await services.bank.find_invoices_by_tags([campaign.tag])
        ids = {invoice.id for invoice in invoices}
        snapshot.issued = (len(invoices), sum(i.nominal_amount for i in invoices))
        paid = [i for i in invoices if i.status == "paid"]
        snapshot.paid = (len(paid), sum(i.amount for i in paid))
        start = datetime.fromtimestamp(campaign.t0, UTC).date()
        credited: dict[str, int] = {}
        async for entry in services.bank.iter_invoice_logs(types=["credited"], after=start):
            if entry.invoice.id in ids:
                credited[entry.invoice.id] = entry.invoice.amount
        snapshot.credited = (len(credited), sum(credited.values()))
    except BankError as error:
        log.warning("console.overview.bank_unavailable", error=str(error))
        snapshot.error = str(error)
    _SNAPSHOTS[key] = snapshot
    return snapshot


async def _ledger_totals(
    services: Services, invoice_ids: list[str] | None
) -> dict[str, tuple[int, int]]:
    """Per funnel step (seen, forwarded, settled): invoices and cents, from the ledgers of
    ``invoice_ids`` (the campaign's), else of the newest ``LEDGER_SCAN_LIMIT`` invoices."""
    store = services.store
    ids = invoice_ids
    if ids is None:
        ids = [
            str(i)
            for i in await store.redis.zrevrange(
                store.keys.ledger_index(), 0, LEDGER_SCAN_LIMIT - 1
            )
        ]
    pipe = store.redis.pipeline(transaction=False)
    for invoice_id in ids:
        pipe.hmget(store.keys.webhook_ledger(str(invoice_id)), ["stage", "gross_amount", "amount"])
    rows = await pipe.execute() if ids else []
    totals = {"seen": (0, 0), "forwarded": (0, 0), "settled": (0, 0)}

    def add(step: str, cents: int) -> None:
        count, total = totals[step]
        totals[step] = (count + 1, total + cents)

    for stage, gross, net in rows:
        if gross is None:
            continue  # a transfer log about an invoice we never saw credited
        add("seen", int(gross))
        if stage in {"sent", "success"}:
            add("forwarded", int(net or 0))
        if stage == "success":
            add("settled", int(net or 0))
    return totals


async def health(
    services: Services,
    status: dict[str, Any],
    bank_error: str | None,
    campaign_record: Campaign | None = None,
) -> list[Part]:
    """Redis, Stark Bank, and the background parts, as a person would check them."""
    settings = services.settings
    redis_ok = await redis_answers(services.store.redis)
    parts = [Part("Redis", redis_ok, "answers" if redis_ok else "does not answer")]
    if bank_error:
        parts.append(Part("Stark Bank", False, bank_error))
    elif not services.public_key.loaded:
        parts.append(Part("Stark Bank", False, "public key not loaded: webhooks are refused"))
    else:
        parts.append(Part("Stark Bank", True, "answers; public key loaded"))
    background = services.role != "api"
    campaign = status.get("campaign")
    if campaign is None:
        parts.append(Part("Campaign scheduler", None, "no campaign started yet"))
    else:
        missing = 0
        if campaign_record is not None:
            missing = unresolved_slots(campaign_record, campaign["slots_resolved"], time.time())
        if missing:
            behind = f"behind: {missing} slot(s) past the grace never resolved"
            parts.append(Part("Campaign scheduler", False, behind))
        else:
            on_time = "campaign over" if campaign["over"] else "on time"
            parts.append(Part("Campaign scheduler", True, on_time))
    queue = status["queue"]
    idle = settings.forward_claim_idle_seconds
    stuck = queue["oldest_pending_seconds"] > 2 * idle
    workers = queue["consumers"]
    parts.append(
        Part(
            "Forwarding worker",
            None if not workers and not background else not stuck,
            f"{workers} consumer(s); oldest pending {queue['oldest_pending_seconds']:.0f} s",
        )
    )
    report = status.get("last_reconciliation")
    lock = await services.store.redis.exists(services.store.keys.reconcile_lock())
    detail = "running now" if lock else (
        "no reconciliation yet" if report is None else f"last report {report['generated_at'][:19]}"
    )  # fmt: skip
    parts.append(Part("Reconciliation", None if report is None and not lock else True, detail))
    return parts


@dataclass
class Overview:
    status: dict[str, Any]
    slots: list[SlotView] = field(default_factory=list)
    funnel: list[FunnelStep] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    campaign: Campaign | None = None
    equation: Equation | None = None
    """The last money report's equation and verdict."""
    read_at: float = field(default_factory=time.time)


async def build_overview(services: Services) -> Overview:
    """Everything the overview page shows, read now."""
    status = await status_body(services.store, services.settings)
    overview = Overview(status)
    campaign = await load_campaign(services.store)
    bank_error: str | None = None
    unknown: tuple[int | None, int | None] = (None, None)
    issued = paid = credited = unknown
    campaign_invoices: list[str] | None = None
    if campaign is not None:
        overview.campaign = campaign
        outcomes = await load_outcomes(services.store, campaign.id)
        campaign_invoices = [i for outcome in outcomes.values() for i in outcome.invoice_ids]
        overview.slots = slot_views(campaign, outcomes, time.time())
        snapshot = await _bank_snapshot(services, campaign)
        bank_error = snapshot.error
        if snapshot.error is None:
            issued, paid, credited = snapshot.issued, snapshot.paid, snapshot.credited
    ledger = await _ledger_totals(services, campaign_invoices)
    overview.funnel = [
        FunnelStep("issued", issued[0], issued[1], "Stark Bank", "invoices of this campaign"),
        FunnelStep("paid", paid[0], paid[1], "Stark Bank", "what payers paid"),
        FunnelStep("credited", credited[0], credited[1], "Stark Bank", "credited to the account"),
        FunnelStep("seen", *ledger["seen"], "starkrelay", "credits starkrelay learned of"),
        FunnelStep("forwarded", *ledger["forwarded"], "starkrelay", "transfers created (net)"),
        FunnelStep("settled", *ledger["settled"], "starkrelay", "transfers Stark Bank settled"),
    ]
    overview.parts = await health(services, status, bank_error, campaign)
    if status.get("last_reconciliation"):
        overview.equation = equation(MoneyReport(**status["last_reconciliation"]))
    return overview
