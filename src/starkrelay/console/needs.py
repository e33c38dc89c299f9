"""What needs a person now: the banner at the top of every console page.

``judge`` is pure: it turns what was read (``Facts``) into the list of ``Need`` items, worst
first, each with its count, its amount where there is one and where to act. The banner is
green only when the list is empty. ``read_facts`` reads Redis with bounded calls (no scan):
the dead-letter stream (the first ``DEAD_SUM_LIMIT`` summed), the stage counts, the forward
counters, the last money report, Stark Bank's health, the forward stream's state, the
campaign's resolved slots, and this process's parts.

Refused forwards and foreign events are counts that only grow; once a person acknowledged
them (``Keys.console_acknowledged``), the banner shows only what came after.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from redis.typing import EncodableT, FieldT

from starkrelay.api.status import stark_bank_health
from starkrelay.core.store import Store
from starkrelay.core.supervision import Supervisor
from starkrelay.forwarding import pause
from starkrelay.forwarding.stream_state import StreamState, stream_state
from starkrelay.invoicing.campaign import Campaign, load_campaign
from starkrelay.ledger import reads
from starkrelay.reconciliation.report import MoneyReport, load_report

REPORT_STALE_SECONDS = 26 * 3600
"""The daily report is stale past this age (a day and a margin for a slow run)."""
STUCK_SECONDS = 120.0
"""A forward in a worker's hands (or waiting for one) longer than this (and twice the claim
idle time) means no worker is doing its job."""
DEAD_SUM_LIMIT = 500
WAITING_SUM_LIMIT = 200
ACKNOWLEDGED = ("refused", "foreign_events")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Need:
    """One thing that needs a person."""

    key: str
    severity: Severity
    title: str
    detail: str
    href: str
    act: str
    count: int | None = None
    cents: int | None = None
    acknowledge: bool = False
    """The banner offers to acknowledge it (the count stops showing until it grows)."""


@dataclass
class Facts:
    """What ``judge`` needs, read at one moment."""

    now: float
    dead_letters: int = 0
    dead_cents: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    report: MoneyReport | None = None
    bank: dict[str, Any] = field(default_factory=dict)
    queue: StreamState | None = None
    oldest_unread_seconds: float = 0.0
    """Age of the oldest forward entry no worker has read yet (0: none)."""
    waiting_cents: int = 0
    paused: bool = False
    """Outflow paused (``forwarding.pause``): no transfer is created until someone resumes."""
    held_cents: int = 0
    campaign: Campaign | None = None
    slots_resolved: int = 0
    parts: dict[str, str] = field(default_factory=dict)
    """This process's parts that failed or stopped beating, with why."""
    stuck_after: float = STUCK_SECONDS


def unresolved_slots(campaign: Campaign, resolved: int, now: float) -> int:
    """How many of ``campaign``'s slots are past their grace with no outcome recorded (the
    scheduler records every slot it reaches, issued, skipped or failed)."""
    last = campaign.last_due_slot(now - campaign.grace)
    return max(0, (0 if last is None else last + 1) - resolved)


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _report_age(report: MoneyReport, now: float) -> float | None:
    try:
        return now - datetime.fromisoformat(report.generated_at).timestamp()
    except ValueError:
        return None


def _money_needs(report: MoneyReport) -> list[Need]:
    needs: list[Need] = []
    for key, items, noun, title, what, anchor, act in (
        ("unexplained_outflow", report.unexplained, "transfer",
         "Unexplained outflow to the destination",
         "to the destination that no credited invoice of ours explains",
         "unexplained", "See the transfers"),
        ("reversed_after_forward", report.reversals, "invoice",
         "To recover: reversed after forwarding",
         "reversed to the payer after the forward was sent",
         "reversals", "See what to recover"),
    ):  # fmt: skip
        cents = getattr(report, key)
        if cents:
            detail = f"{_plural(len(items), noun)} {what} (last money report)"
            needs.append(Need(key, "error", title, detail, f"/console/money#{anchor}", act,
                              len(items), cents))  # fmt: skip
    if report.disagreements:
        needs.append(Need(
            "disagreements", "error",
            f"{_plural(len(report.disagreements), 'invoice')} whose numbers disagree",
            "credit and forward do not add up (last money report)",
            "/console/money#disagreements", "See which",
            len(report.disagreements),
            sum(int(d.get("net", 0) or 0) for d in report.disagreements),
        ))  # fmt: skip
    return needs


def _new_since_acknowledged(facts: Facts, name: str, current: int) -> int:
    return max(0, current - facts.acknowledged.get(name, 0))


def _process_needs(facts: Facts) -> list[Need]:
    needs: list[Need] = []
    for name, why in sorted(facts.parts.items()):
        needs.append(Need(
            f"part:{name}", "error", f"{name.replace('_', ' ')} is down", why,
            "/health", "Check /health",
        ))  # fmt: skip
    queue = facts.queue
    stuck = facts.stuck_after
    if queue is not None and queue.oldest_pending_seconds > stuck:
        needs.append(Need(
            "forwarding_stuck", "error",
            f"A forward has been in a worker's hands for {queue.oldest_pending_seconds:.0f} s",
            f"{_plural(queue.pending, 'entry', 'entries')} pending; a worker died or hangs "
            "(another takes its entries once they idle)",
            "/console#forwards-h", "See the queue", queue.pending,
        ))  # fmt: skip
    if queue is not None and queue.lag and facts.oldest_unread_seconds > stuck:
        needs.append(Need(
            "forwarding_unread", "error",
            f"{_plural(queue.lag, 'forward')} wait and no worker takes them",
            f"the oldest for {facts.oldest_unread_seconds:.0f} s: is a process with the "
            "forwarding worker (serve or worker) running?",
            "/console#forwards-h", "See the queue", queue.lag,
        ))  # fmt: skip
    campaign = facts.campaign
    if campaign is not None:
        missing = unresolved_slots(campaign, facts.slots_resolved, facts.now)
        if missing > 0:
            needs.append(Need(
                "campaign_behind", "error",
                f"{_plural(missing, 'campaign slot')} past the grace and never resolved",
                "the campaign scheduler is not running (serve or worker)",
                "/console#campaign-h", "See the slots", missing,
            ))  # fmt: skip
    return needs


def judge(facts: Facts) -> list[Need]:
    """Everything in ``facts`` that needs a person, errors first (see the module docstring)."""
    refused = _new_since_acknowledged(facts, "refused", facts.stages.get("refused", 0))
    foreign = _new_since_acknowledged(
        facts, "foreign_events", facts.counters.get("foreign_events", 0)
    )
    needs = [
        Need(key, "error", title, detail, href, act, count, cents, key in ACKNOWLEDGED)
        for key, count, cents, title, detail, href, act in (
            ("dead_letters", facts.dead_letters, facts.dead_cents,
             _plural(facts.dead_letters, "dead letter"),
             "forwards starkrelay gave up on; fix the cause, then re-drive",
             "/console/dead-letters", "Look and re-drive"),
            ("refused", refused, None, _plural(refused, "forward") + " refused",
             "a credited event named an invoice our workspace holds no credit of; nothing "
             "was sent", "/console/invoices?stage=refused", "See them"),
            ("foreign_events", foreign, None, _plural(foreign, "foreign transfer event"),
             "signed events about transfers our workspace does not hold; they moved nothing "
             "(another workspace points its webhook here?)",
             "/console/money#foreign", "See the report"),
        )
        if count
    ]  # fmt: skip
    if facts.report is not None:
        needs += _money_needs(facts.report)
    needs += _process_needs(facts)
    state = str(facts.bank.get("state") or "healthy")
    if state != "healthy":
        since = facts.bank.get("since")
        for_how_long = f" for {facts.now - float(since):.0f} s" if since else ""
        needs.append(Need(
            "stark_bank", "warning", f"Stark Bank is failing us ({state}){for_how_long}",
            "forwards wait and retry until it answers; "
            + (f"last error: {facts.bank['last_error']}" if facts.bank.get("last_error")
               else f"last failed call: {facts.bank.get('operation') or 'unknown'}"),
            "/console#health-h", "See health",
        ))  # fmt: skip
    if facts.paused:
        needs.append(Need(
            "paused", "error", "Outflow is paused: no transfer is being created",
            "forwards keep arriving and wait; resuming sends each once",
            "/console/held", "Resume or see why",
        ))  # fmt: skip
    for stage, what, detail, href, act, cents in (
        ("held", "held over a limit",
         "a person approves or rejects each; nothing is sent until then",
         "/console/held", "Approve or reject", facts.held_cents),
        ("waiting", "wait for the balance",
         "Stark Bank refused them for lack of balance; they go once it covers them",
         "/console/invoices?stage=waiting", "See them", facts.waiting_cents),
    ):  # fmt: skip
        if count := facts.stages.get(stage, 0):
            title = f"{_plural(count, 'forward')} {what}"
            needs.append(Need(stage, "warning", title, detail, href, act, count, cents))
    report = facts.report
    age = None if report is None else _report_age(report, facts.now)
    if report is None:
        needs.append(Need(
            "report", "warning", "No daily money report yet",
            "the daily reconciliation has never run here", "/console/money", "Reconcile now",
        ))  # fmt: skip
    elif age is None or age > REPORT_STALE_SECONDS:
        hours = "an unknown time" if age is None else f"{age / 3600:.0f} h"
        needs.append(Need(
            "report", "warning", f"The daily money report is {hours} old",
            "the daily reconciliation did not run on time", "/console/money", "Reconcile now",
        ))  # fmt: skip
    order = {"error": 0, "warning": 1}
    return sorted(needs, key=lambda need: order[need.severity])


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, value in raw.items():
        try:
            found[str(name)] = int(value)
        except (TypeError, ValueError):
            continue
    return found


async def _oldest_unread_seconds(store: Store, queue: StreamState, now: float) -> float:
    if not queue.lag:
        return 0.0
    groups = await store.redis.xinfo_groups(store.keys.forward_stream())
    last = next((str(g.get("last-delivered-id", "0-0")) for g in groups), "0-0")
    first = await store.redis.xrange(store.keys.forward_stream(), min=f"({last}", max="+", count=1)
    if not first:
        return 0.0
    return max(0.0, now - int(str(first[0][0]).split("-")[0]) / 1000)


def unhealthy_parts(supervisor: Supervisor | None) -> dict[str, str]:
    """This process's parts that failed, stopped, stopped beating, or keep failing to start."""
    if supervisor is None:
        return {}
    found = dict(supervisor.unhealthy())
    for name, part in supervisor.parts.items():
        if part.state == "stopped" or (part.state == "starting" and part.detail):
            found.setdefault(name, f"{part.state}: {part.detail or 'no detail'}")
    return found


async def read_facts(
    store: Store, supervisor: Supervisor | None, claim_idle_seconds: float
) -> Facts:
    """Everything ``judge`` needs (see the module docstring)."""
    now = time.time()
    pipe = store.redis.pipeline(transaction=False)
    pipe.xlen(store.keys.forward_dead_letters())
    pipe.xrange(store.keys.forward_dead_letters(), count=DEAD_SUM_LIMIT)
    pipe.hgetall(store.keys.ledger_stages())
    pipe.hgetall(store.keys.forward_counters())
    pipe.hgetall(store.keys.console_acknowledged())
    pipe.zrange(store.keys.forward_waiting(), 0, WAITING_SUM_LIMIT - 1)
    dead, letters, stages, counters, acknowledged, waiting = await pipe.execute()
    amounts = store.redis.pipeline(transaction=False)
    for invoice_id in waiting:
        amounts.hget(store.keys.webhook_ledger(str(invoice_id)), "amount")
    waiting_amounts = await amounts.execute() if waiting else []
    queue = await stream_state(store)
    campaign = await load_campaign(store)
    resolved = (
        int(await store.redis.hlen(store.keys.campaign_slots(campaign.id))) if campaign else 0
    )
    return Facts(
        now=now,
        dead_letters=int(dead),
        dead_cents=sum(_ints({"a": f.get("amount", 0)}).get("a", 0) for _, f in letters or []),
        stages=_ints(stages),
        counters=_ints(counters),
        acknowledged=_ints(acknowledged),
        report=await load_report(store),
        bank=await stark_bank_health(store),
        queue=queue,
        oldest_unread_seconds=await _oldest_unread_seconds(store, queue, now),
        waiting_cents=sum(int(a) for a in waiting_amounts if a is not None),
        paused=await pause.is_paused(store),
        held_cents=await reads.held_cents(store),
        campaign=campaign,
        slots_resolved=resolved,
        parts=unhealthy_parts(supervisor),
        stuck_after=max(STUCK_SECONDS, 2 * claim_idle_seconds),
    )


async def acknowledge(store: Store) -> dict[str, int]:
    """Take the current refused and foreign-event counts as seen; returns them."""
    stages = await store.redis.hget(store.keys.ledger_stages(), "refused")
    foreign = await store.redis.hget(store.keys.forward_counters(), "foreign_events")
    seen = {"refused": int(stages or 0), "foreign_events": int(foreign or 0)}
    mapping: dict[FieldT, EncodableT] = {name: count for name, count in seen.items()}
    await store.redis.hset(store.keys.console_acknowledged(), mapping=mapping)
    return seen
