"""What needs a person: each finding of ``judge``, and ``read_facts`` over a real Redis written
by the real ledger scripts, intake and forwarding outcomes."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from starkrelay.bank import BankUnavailableError
from starkrelay.console.needs import (
    REPORT_STALE_SECONDS,
    Facts,
    acknowledge,
    judge,
    read_facts,
    unhealthy_parts,
)
from starkrelay.core.store import Store
from starkrelay.core.supervision import Supervisor
from starkrelay.forwarding.outcomes import note_failure
from starkrelay.forwarding.stream_state import StreamState
from starkrelay.invoicing.campaign import Campaign
from starkrelay.ledger import Evidence, Settlement, Stage, settle
from starkrelay.reconciliation.report import MoneyReport, store_report
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


def fresh_report(**lines: object) -> MoneyReport:
    generated = datetime.fromtimestamp(NOW - 3600, UTC).isoformat()
    return MoneyReport(since="2027-01-12", generated_at=generated, **lines)  # type: ignore[arg-type]


def calm() -> Facts:
    return Facts(now=NOW, report=fresh_report(), bank={"state": "healthy"},
                 queue=StreamState(0, 0, 0.0, 0, 1))  # fmt: skip


def keys_of(facts: Facts) -> list[str]:
    return [need.key for need in judge(facts)]


def test_green_only_when_nothing_needs_a_person() -> None:
    assert judge(calm()) == []


def test_each_finding_with_its_count_amount_and_link() -> None:
    report = fresh_report(
        unexplained_outflow=300,
        unexplained=[{"transfer_id": "t9", "amount": 300}],
        reversed_after_forward=4_900,
        reversals=[{"invoice_id": "i2", "to_recover": 4_900}],
        disagreements=[{"invoice_id": "i3", "net": 950, "problem": "x"}],
    )
    facts = replace(
        calm(), dead_letters=2, dead_cents=19_800, stages={"refused": 3, "waiting": 1},
        counters={"foreign_events": 5}, report=report, waiting_cents=1_000,
        bank={"state": "throttled", "since": NOW - 90, "last_error": "HTTP 429"},
    )  # fmt: skip
    needs = {need.key: need for need in judge(facts)}
    assert list(needs) == [
        "dead_letters", "refused", "foreign_events", "unexplained_outflow",
        "reversed_after_forward", "disagreements", "stark_bank", "waiting",
    ]  # fmt: skip
    dead = needs["dead_letters"]
    assert (dead.count, dead.cents, dead.href, dead.severity) == (
        2, 19_800, "/console/dead-letters", "error"
    )  # fmt: skip
    assert (needs["refused"].count, needs["refused"].acknowledge) == (3, True)
    assert needs["refused"].href == "/console/invoices?stage=refused"
    assert needs["foreign_events"].count == 5
    assert (needs["unexplained_outflow"].cents, needs["unexplained_outflow"].count) == (300, 1)
    assert needs["reversed_after_forward"].cents == 4_900
    assert needs["disagreements"].count == 1
    assert "throttled" in needs["stark_bank"].title
    assert "90 s" in needs["stark_bank"].title
    assert needs["stark_bank"].severity == "warning"
    assert (needs["waiting"].count, needs["waiting"].cents) == (1, 1_000)


def test_acknowledged_counts_show_only_what_came_after() -> None:
    facts = replace(calm(), stages={"refused": 3}, counters={"foreign_events": 5},
                    acknowledged={"refused": 3, "foreign_events": 4})  # fmt: skip
    [foreign] = judge(facts)
    assert (foreign.key, foreign.count) == ("foreign_events", 1)


def test_the_daily_report_missing_or_stale() -> None:
    assert keys_of(replace(calm(), report=None)) == ["report"]
    old = datetime.fromtimestamp(NOW - REPORT_STALE_SECONDS - 60, UTC).isoformat()
    [stale] = judge(replace(calm(), report=replace(fresh_report(), generated_at=old)))
    assert stale.title == "The daily money report is 26 h old"
    assert stale.href == "/console/money"


def test_parts_down_stuck_or_unread_forwards_and_a_campaign_behind() -> None:
    queue = StreamState(lag=4, pending=2, oldest_pending_seconds=600.0, dead_letters=0,
                        consumers=1)  # fmt: skip
    campaign = Campaign("c1", t0=NOW - 3 * 3600 - 1, interval=3600, slots=8, grace=600)
    facts = replace(calm(), queue=queue, oldest_unread_seconds=900.0, campaign=campaign,
                    slots_resolved=1, parts={"forwarding_worker": "failed: boom"})  # fmt: skip
    needs = {need.key: need for need in judge(facts)}
    assert list(needs) == [
        "part:forwarding_worker", "forwarding_stuck", "forwarding_unread", "campaign_behind"
    ]  # fmt: skip
    assert needs["forwarding_unread"].count == 4
    assert needs["campaign_behind"].count == 2  # slots 0..2 are past the grace; 1 resolved
    quiet = replace(facts, queue=replace(queue, oldest_pending_seconds=5.0),
                    oldest_unread_seconds=5.0, slots_resolved=3, parts={})  # fmt: skip
    assert judge(quiet) == []


def test_this_processs_parts() -> None:
    supervisor = Supervisor(heartbeat_timeout=1.0)
    supervisor.heartbeat("scheduler").running()
    supervisor.heartbeat("forwarding_worker").state = "failed"
    starting = supervisor.heartbeat("webhook_registration")
    starting.attempt("Stark Bank: refused")
    assert unhealthy_parts(supervisor) == {
        "forwarding_worker": "failed: None",
        "webhook_registration": "starting: Stark Bank: refused",
    }
    assert unhealthy_parts(None) == {}


async def test_facts_read_from_redis_as_the_money_path_wrote_them(store: Store) -> None:
    now = time.time()
    dead = Settlement(
        entry_id="", invoice_id="i1", attempt=0, stage=Stage.DEAD,
        evidence=Evidence.CREATE, amount=4_950, now=now,
        ledger_fields={"dead_reason": "invalidBankCode"},
        dead_letter={"invoice_id": "i1", "amount": "4950", "gross_amount": "5000",
                     "fee": "50", "attempt": "0", "reason": "invalidBankCode"},
    )  # fmt: skip
    refused = replace(dead, invoice_id="i2", stage=Stage.REFUSED,
                      evidence=Evidence.OWNERSHIP, dead_letter=None)  # fmt: skip
    await settle(store, [dead, refused])
    stranger = parse_event({
        "id": "e1", "created": datetime.now(UTC).isoformat(), "subscription": "transfer",
        "log": {"id": "l1", "created": datetime.now(UTC).isoformat(), "type": "success",
                "transfer": {"id": "t1", "amount": 1, "externalId": "invoice-i9"}},
    })  # fmt: skip
    policy = IntakePolicy(replay_window_seconds=3600)
    assert await take_event(store, stranger, policy) is Outcome.FOREIGN
    await note_failure(store, [], BankUnavailableError("create", "throttled", "429"))
    yesterday = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    await store_report(store, MoneyReport(since="x", generated_at=yesterday))

    facts = await read_facts(store, None, claim_idle_seconds=60)
    needs = {need.key: need for need in judge(facts)}
    assert list(needs) == ["dead_letters", "refused", "foreign_events", "stark_bank",
                           "report"]  # fmt: skip
    assert (needs["dead_letters"].count, needs["dead_letters"].cents) == (1, 4_950)
    assert "throttled" in needs["stark_bank"].title
    assert await acknowledge(store) == {"refused": 1, "foreign_events": 1}
    after = [need.key for need in judge(await read_facts(store, None, 60))]
    assert after == ["dead_letters", "stark_bank", "report"]
