"""Outflow limits against the emulator: a burst crossing the day's budget is sent up to it and
the rest held, with two workers racing; a person approves (each sent once, whatever the
repeats) or rejects (nothing sent); held forwards survive restarts and a Redis data loss."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import starkbank
from tests.support.relay_harness import (
    Relay,
    credit_invoices,
    enqueue_credited,
    faults_after_ownership_read,
    forward_all,
    relay_context,
)

from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.forwarding.approval import Decision, DecisionOutcome, decide
from starkrelay.forwarding.outflow import OutflowConfig, release_held_before
from starkrelay.forwarding.reader import ensure_group
from starkrelay.ledger import reads

pytestmark = pytest.mark.anyio

NET, FEE = 950, 50
"""Every invoice here is credited R$ 10.00, so each forward is R$ 9.50."""
LIMIT = 10 * NET + 500
"""Room for ten forwards, not eleven."""


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"initial_balance": 10**9, "pay_share": 0.0, "invoice_fee": FEE},
        forward_daily_limit=LIMIT, forward_batch_size=4,
    ) as r:  # fmt: skip
        yield r


def transfers_by_invoice() -> Counter[str]:
    return Counter(str(t.external_id) for t in starkbank.transfer.query())


async def burst(relay: Relay, services: Services, count: int) -> list[str]:
    ids = credit_invoices(relay.sb, [NET + FEE] * count)
    for invoice_id in ids:
        await enqueue_credited(services, invoice_id, NET + FEE)
    return ids


async def two_workers(relay: Relay, first: Services, second: Services) -> None:
    """Two workers (two Redis clients, two consumers) drain the stream at once."""
    await asyncio.gather(
        forward_all(relay.worker(first, "worker-a"), first),
        forward_all(relay.worker(second, "worker-b"), second),
    )


async def today(services: Services) -> reads.DayBudget:
    config = OutflowConfig.from_settings(services.settings)
    return await reads.day_budget(services.store, config.day(time.time()))


async def test_a_burst_crossing_the_daily_limit_sends_up_to_it_and_holds_the_rest(
    relay: Relay,
) -> None:
    async with relay.services() as a, relay.services() as b:
        ids = await burst(relay, a, 30)
        await two_workers(relay, a, b)
        sent = transfers_by_invoice()
        assert len(sent) == 10
        assert set(sent.values()) == {1}
        held = await reads.list_held(a.store)
        assert len(held) == 20
        assert {h.reason for h in held} == {"daily_limit"}
        assert {h.invoice_id for h in held} | {e.removeprefix("invoice-") for e in sent} == set(ids)
        assert await reads.held_cents(a.store) == 20 * NET
        day = await today(a)
        assert (day.used, day.confirmed, day.confirmed_count) == (10 * NET, 10 * NET, 10)

        # a person approves all twenty at once, and again (a second click): each is sent once
        chosen = [h.invoice_id for h in held]
        first = await decide(a.store, chosen, Decision.APPROVE, "test:alice")
        second = await decide(b.store, chosen, Decision.APPROVE, "test:bob")
        assert {r.outcome for r in first} == {DecisionOutcome.APPROVED}
        assert {r.outcome for r in second} == {DecisionOutcome.NOT_HELD}
        await two_workers(relay, a, b)
        sent = transfers_by_invoice()
        assert len(sent) == 30
        assert set(sent.values()) == {1}
        assert await reads.held_count(a.store) == 0
        day = await today(a)  # approved forwards pass the limit but are counted
        assert (day.used, day.confirmed, day.confirmed_count) == (30 * NET, 30 * NET, 30)
        ledger = await a.store.redis.hgetall(a.store.keys.webhook_ledger(chosen[0]))
        assert ledger["approved_by"] == "test:alice"
        assert ledger["stage"] == "sent"


async def test_approving_from_two_tabs_at_once_and_through_a_worker_restart_sends_once(
    relay: Relay,
) -> None:
    async with relay.services() as a, relay.services() as b:
        await burst(relay, a, 13)
        await forward_all(relay.worker(a, "worker-a"), a)
        held = [h.invoice_id for h in await reads.list_held(a.store)]
        assert len(held) == 3
        tab_one, tab_two = await asyncio.gather(
            decide(a.store, held, Decision.APPROVE, "console:tab1"),
            decide(b.store, held, Decision.APPROVE, "console:tab2"),
        )
        outcomes = Counter(r.outcome for r in [*tab_one, *tab_two])
        assert outcomes == {DecisionOutcome.APPROVED: 3, DecisionOutcome.NOT_HELD: 3}

        # the worker creates, the answer is lost and it dies; it starts again (same name)
        crashing = relay.worker(a, "worker-a")
        faults_after_ownership_read(crashing, relay, api_lost_response_rate=1.0)
        assert await crashing.step(block=False) is None  # nothing known: entries pending
        relay.sb.set_faults(api_lost_response_rate=0.0)
        assert len(transfers_by_invoice()) == 13  # created, though the answer was lost
        day = await today(a)
        assert day.used == 13 * NET
        assert day.confirmed == 10 * NET
        await forward_all(relay.worker(b, "worker-a"), b)  # the restarted worker
        sent = transfers_by_invoice()
        assert len(sent) == 13
        assert set(sent.values()) == {1}
        day = await today(a)
        assert (day.used, day.confirmed, day.count) == (13 * NET, 13 * NET, 13)


async def test_a_rejected_forward_is_never_sent_and_reported(relay: Relay) -> None:
    async with relay.services() as s:
        await burst(relay, s, 12)
        await forward_all(relay.worker(s), s)
        held = [h.invoice_id for h in await reads.list_held(s.store)]
        assert len(held) == 2
        [rejected] = await decide(s.store, held[:1], Decision.REJECT, "test:carol")
        assert rejected.outcome is DecisionOutcome.REJECTED
        [late] = await decide(s.store, held[:1], Decision.APPROVE, "test:dave")
        assert (late.outcome, late.detail) == (DecisionOutcome.NOT_HELD, "rejected")
        report = await run_reconciliation(s)  # re-enqueues nothing held or rejected
        assert (report.enqueued_missing, report.lost_requeued) == (0, 0)
        assert (report.held, report.rejected) == (NET, NET)
        assert report.forwarded + report.in_flight == 10 * NET
        assert not report.disagreements
        await forward_all(relay.worker(s), s)
        assert f"invoice-{held[0]}" not in transfers_by_invoice()
        ledger = await s.store.redis.hgetall(s.store.keys.webhook_ledger(held[0]))
        assert (ledger["stage"], ledger["rejected_by"]) == ("rejected", "test:carol")


async def test_held_forwards_survive_a_restart_and_a_redis_data_loss(relay: Relay) -> None:
    """After Redis forgets everything, reconciliation enqueues the credits that have no
    transfer; the day's count starts again from Stark Bank's listing, so they are held again
    rather than sent."""

    async with relay.services() as s:
        await burst(relay, s, 12)
        await forward_all(relay.worker(s), s)
        held = {h.invoice_id for h in await reads.list_held(s.store)}
        assert len(held) == 2
    async with relay.services() as s:  # a restart: another process, same Redis
        await forward_all(relay.worker(s), s)
        assert {h.invoice_id for h in await reads.list_held(s.store)} == held
        async for name in s.store.redis.scan_iter(match=s.store.keys.key("*"), count=500):
            await s.store.redis.unlink(name)  # the data loss (this test's keys only)
        report = await run_reconciliation(s)
        assert report.enqueued_missing == 2
        await ensure_group(s.store)  # as a running worker does after NOGROUP
        await forward_all(relay.worker(s), s)
        assert {h.invoice_id for h in await reads.list_held(s.store)} == held
        assert len(transfers_by_invoice()) == 10
        day = await today(s)
        assert (day.used, day.confirmed) == (10 * NET, 10 * NET)  # seeded from Stark Bank


async def test_the_per_transfer_cap_and_the_hourly_count_hold_too(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False,
        sandbox={"initial_balance": 10**9, "pay_share": 0.0, "invoice_fee": FEE},
        forward_max_amount=2_000, forward_hourly_count=3,
    ) as relay:  # fmt: skip
        async with relay.services() as s:
            big = credit_invoices(relay.sb, [5_000])[0]
            await enqueue_credited(s, big, 5_000)
            await burst(relay, s, 4)
            await forward_all(relay.worker(s), s)
            reasons = {h.invoice_id: h.reason for h in await reads.list_held(s.store)}
            assert reasons.pop(big) == "max_amount"
            assert list(reasons.values()) == ["hourly_count"]
            assert len(transfers_by_invoice()) == 3


async def test_a_new_day_releases_the_budgets_holds_only_when_asked(relay: Relay) -> None:
    async with relay.services() as s:
        await burst(relay, s, 11)
        await forward_all(relay.worker(s), s)
        [held] = await reads.list_held(s.store)
        worker = relay.worker(s)
        assert await worker.outflow.release_next_day() == 0  # the setting is off
        tomorrow = time.time() + 86400
        released = await release_held_before(s.store, tomorrow, time.time())
        assert released == 1
        assert await release_held_before(s.store, tomorrow, time.time()) == 0
        ledger = await s.store.redis.hgetall(s.store.keys.webhook_ledger(held.invoice_id))
        assert ledger["stage"] == "queued"
        assert ledger["evidence"] == "next_day"
        await forward_all(worker, s)  # today's budget is still spent: held again
        [again] = await reads.list_held(s.store)
        assert again.invoice_id == held.invoice_id
        assert again.since == held.since
        assert len(transfers_by_invoice()) == 10
