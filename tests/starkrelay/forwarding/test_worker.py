"""The forwarding worker against the emulator: failures, crashes and batching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import anyio
import pytest
import starkbank
from tests.support.relay_harness import (
    MONEY_PATH,
    DiesAfterCreate,
    Killed,
    Relay,
    await_for,
    credit_invoices,
    enqueue_credited,
    faults_after_ownership_read,
    forward_all,
    forwards_of,
    ledger_of,
    ownership_calls,
    relay_context,
    unfamiliar_worker,
)
from tests.support.settings import settings_for

from starkrelay.api.deps import Services
from starkrelay.api.wiring import forwarding_worker
from starkrelay.bank import (
    BankGateway,
    BankInputError,
    NewTransfer,
    ProviderError,
    Transfer,
)
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.supervision import Heartbeat
from starkrelay.forwarding import service as forwarding
from starkrelay.forwarding.reader import Entry
from starkrelay.forwarding.service import consumer_name
from starkrelay.forwarding.stream_state import stream_state, trim_acknowledged
from starkrelay.forwarding.worker import CredentialsRefused, ForwardingWorker
from starkrelay.ledger import FORWARD_GROUP
from starkrelay.webhooks.intake import IntakePolicy
from starksandbox.keys import new_key_pair

pytestmark = pytest.mark.anyio

POLICY = IntakePolicy(replay_window_seconds=3600)


@pytest.fixture
def relay(quiet_relay: Relay) -> Relay:
    """The tests of this module enqueue directly: no HTTP relay, money in the bank."""
    return quiet_relay


async def transfer_calls(relay: Relay) -> int:
    async with relay.services() as services:
        counters = await services.store.redis.hgetall(services.store.keys.forward_counters())
        return int(counters.get("transfer_calls", 0))


async def test_250_credited_invoices_take_3_ownership_reads_and_3_creates(relay: Relay) -> None:
    ids = credit_invoices(relay.sb, [1_000 + n for n in range(250)])
    async with relay.services() as services:
        for n, invoice_id in enumerate(ids):
            await enqueue_credited(services, invoice_id, 1_000 + n)
        await forward_all(relay.worker(services), services)
        assert await ownership_calls(services) == (3, 3)
    transfers = list(starkbank.transfer.query())
    assert len(transfers) == 250
    assert len({t.external_id for t in transfers}) == 250
    assert sum(t.amount for t in transfers) == sum(1_000 + n - 50 for n in range(250))


async def test_500s_on_create_are_retried_into_one_transfer(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [3_000])

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 3_000)
        worker = relay.worker(services)
        relay.sb.set_faults(api_error_rate=1.0)
        assert await worker.step(block=False) is None  # the ownership read failed
        assert (await stream_state(services.store)).pending == 1
        relay.sb.set_faults(api_error_rate=0.0)
        assert forwards_of(invoice_id) == []  # nothing sent without the read
        faults_after_ownership_read(worker, relay, api_error_rate=1.0)
        assert await worker.step(block=False) is None  # the create failed
        assert (await stream_state(services.store)).pending == 1
        relay.sb.set_faults(api_error_rate=0.0)
        await forward_all(relay.worker(services), services)
    [transfer] = forwards_of(invoice_id)
    assert transfer.amount == 2_950


async def test_create_that_took_effect_but_lost_its_answer_is_not_repeated(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [3_000])

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 3_000)
        worker = relay.worker(services)
        faults_after_ownership_read(worker, relay, api_lost_response_rate=1.0)
        assert await worker.step(block=False) is None
        relay.sb.set_faults(api_lost_response_rate=0.0)
        assert len(forwards_of(invoice_id)) == 1  # the emulator created it anyway
        await forward_all(relay.worker(services), services)
        ledger = await services.store.redis.hgetall(services.store.keys.webhook_ledger(invoice_id))
        assert ledger["stage"] in {"sent", "success"}
        assert ledger["transfer:0"] == forwards_of(invoice_id)[0].id
    assert len(forwards_of(invoice_id)) == 1


async def test_create_that_timed_out_after_the_emulator_created_it(
    redis_url: str, key_prefix: str
) -> None:
    with relay_context(
        redis_url, key_prefix, serve=False, sandbox={"initial_balance": 10**9, "pay_share": 0.0},
        bank_timeout_seconds=0.2,
    ) as relay:  # fmt: skip
        [invoice_id] = credit_invoices(relay.sb, [3_000])

        async with relay.services() as services:
            await enqueue_credited(services, invoice_id, 3_000)
            worker = relay.worker(services)
            faults_after_ownership_read(worker, relay, api_latency=0.4)
            assert await worker.step(block=False) is None  # client timed out
            relay.sb.set_faults(api_latency=0.0)
            relay.sb.wait_until(lambda: len(forwards_of(invoice_id)) >= 1)
            await forward_all(relay.worker(services), services)
        assert len(forwards_of(invoice_id)) == 1


async def test_worker_killed_mid_batch_is_taken_over(relay: Relay) -> None:
    ids = credit_invoices(relay.sb, [2_000] * 5)

    async with relay.services() as services:
        for invoice_id in ids:
            await enqueue_credited(services, invoice_id, 2_000)
        # the process dies between the provider's answer and the ack
        doomed = relay.worker(services, "host-a-forwarder", cls=DiesAfterCreate)
        with pytest.raises(Killed):
            await doomed.step(block=False)
        assert (await stream_state(services.store)).pending == 5
        await asyncio.sleep(0.25)  # longer than FORWARD_CLAIM_IDLE_SECONDS (0.2)
        survivor = relay.worker(services, "host-b-forwarder")
        await forward_all(survivor, services)
        for invoice_id in ids:
            ledger = await services.store.redis.hgetall(
                services.store.keys.webhook_ledger(invoice_id)
            )
            assert ledger["stage"] in {"sent", "success"}
    for invoice_id in ids:
        assert len(forwards_of(invoice_id)) == 1


async def test_invalid_item_is_dead_lettered_and_the_rest_resent(relay: Relay) -> None:
    # the second payer paid more than a transfer may carry: its forward is over the maximum
    first, huge, third = credit_invoices(relay.sb, [1_000] * 3, paid=[1_000, 10**13, 1_000])

    async with relay.services() as services:
        for invoice_id in (first, huge, third):
            await enqueue_credited(services, invoice_id, 1_000)
        await forward_all(relay.worker(services), services)
        dead = await services.store.redis.xrange(services.store.keys.forward_dead_letters())
        assert [fields["invoice_id"] for _, fields in dead] == [huge]
        assert "invalidAmount" in dead[0][1]["reason"]
        stage = await services.store.redis.hget(services.store.keys.webhook_ledger(huge), "stage")
        assert stage == "dead"
    assert len(forwards_of(first)) == len(forwards_of(third)) == 1
    assert forwards_of(huge) == []
    assert await transfer_calls(relay) == 2


async def test_stark_bank_failing_for_long_never_dead_letters(relay: Relay) -> None:
    """5xx on every call, far past FORWARD_MAX_DELIVERIES rounds: the entry stays pending with
    its delivery count set back each time, and goes out once Stark Bank answers."""
    [invoice_id] = credit_invoices(relay.sb, [1_000])

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 1_000)
        worker = relay.worker(services)
        relay.sb.set_faults(api_error_rate=1.0)
        for _ in range(8):  # FORWARD_MAX_DELIVERIES is 3
            assert await worker.step(block=False) is None
        [pending] = await services.store.redis.xpending_range(
            services.store.keys.forward_stream(), FORWARD_GROUP, min="-", max="+", count=10
        )
        assert pending["times_delivered"] == 0  # set back after each unanswered round
        assert await services.store.redis.xlen(services.store.keys.forward_dead_letters()) == 0
        relay.sb.set_faults(api_error_rate=0.0)
        assert await worker.step(block=False) is True
    assert [t.external_id for t in forwards_of(invoice_id)] == [f"invoice-{invoice_id}"]


async def test_an_unfamiliar_answer_every_time_ends_in_a_dead_letter(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [1_000])

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 1_000)
        worker = unfamiliar_worker(relay, services)
        for _ in range(3):  # FORWARD_MAX_DELIVERIES
            assert await worker.step(block=False) is None
        assert await worker.step(block=False) is True  # 4th delivery: dead-lettered
        dead = await services.store.redis.xrange(services.store.keys.forward_dead_letters())
        assert dead[0][1]["kind"] == "max_deliveries"
        assert "418" in dead[0][1]["reason"]
        assert (await stream_state(services.store)).depth == 0
    assert forwards_of(invoice_id) == []


async def test_trimming_keeps_pending_and_undelivered_entries(relay: Relay) -> None:
    ids = credit_invoices(relay.sb, [1_000] * 9)

    async with relay.services() as services:
        store = services.store
        for invoice_id in ids[:6]:
            await enqueue_credited(services, invoice_id, 1_000)
        await forward_all(relay.worker(services), services)  # all six acknowledged
        for invoice_id in ids[6:]:
            await enqueue_credited(services, invoice_id, 1_000)
        await store.redis.xreadgroup(
            FORWARD_GROUP, "lost", {store.keys.forward_stream(): ">"}, count=2
        )
        assert await trim_acknowledged(store) == 6  # up to the oldest pending one
        remaining = [
            fields["invoice_id"]
            for _, fields in await store.redis.xrange(store.keys.forward_stream())
        ]
        assert remaining == ids[6:]  # two pending, the last never delivered
        await forward_all(relay.worker(services, "other"), services, within=5)


async def test_background_worker_forwards_and_survives_a_deleted_stream(relay: Relay) -> None:
    first, second = credit_invoices(relay.sb, [1_500, 1_500])

    async with relay.services() as services, forwarding_worker(services):
        await enqueue_credited(services, first, 1_500)
        await await_for(lambda: _stage(services, first, "sent"), what="first forward")
        await services.store.redis.delete(services.store.keys.forward_stream())  # group gone too
        await asyncio.sleep(0.1)  # the worker meets NOGROUP and creates the group again
        await enqueue_credited(services, second, 1_500)
        await await_for(lambda: _stage(services, second, "sent"), what="second forward")
    assert [t.amount for t in forwards_of(first)] == [1_450]
    assert [t.amount for t in forwards_of(second)] == [1_450]


async def test_two_consumers_of_one_process_forward_each_credit_once(relay: Relay) -> None:
    """``FORWARD_CONCURRENCY=2``: consumers ``<name>`` and ``<name>.2`` share the stream, in
    batches of 3 here; every credit is sent once and nothing stays pending."""
    tuned = relay.settings.model_copy(update={"forward_batch_size": 3, "forward_concurrency": 2})
    relay = replace(relay, settings=tuned)
    ids = credit_invoices(relay.sb, [1_000 + n for n in range(12)])

    async with relay.services() as services:
        for n, invoice_id in enumerate(ids):
            await enqueue_credited(services, invoice_id, 1_000 + n)
        async with forwarding_worker(services):
            for invoice_id in ids:
                await await_for(lambda i=invoice_id: _forwarded(services, i), what=invoice_id)
        store = services.store
        consumers = await store.redis.xinfo_consumers(store.keys.forward_stream(), FORWARD_GROUP)
        name = consumer_name(relay.settings, services.role)
    assert sorted(c["name"] for c in consumers) == [name, f"{name}.2"]
    assert [c["pending"] for c in consumers] == [0, 0]
    assert [[t.amount for t in forwards_of(i)] for i in ids] == [[950 + n] for n in range(12)]
    assert await transfer_calls(relay) >= 4  # at most 3 a call


async def test_two_consumers_killed_mid_run_under_a_flaky_bank_send_each_credit_once(
    relay: Relay,
) -> None:
    """The part with two consumers is killed once it has sent a few batches (wherever each
    consumer is: maybe between a create and its ack) while Stark Bank fails calls and loses
    answers to creates it made; started again, it sends what is missing and nothing twice."""
    tuned = {"forward_batch_size": 4, "forward_concurrency": 2, "forward_claim_idle_seconds": 0.2}
    relay = replace(relay, settings=relay.settings.model_copy(update=tuned))
    ids = credit_invoices(relay.sb, [1_000 + n for n in range(48)])

    async with relay.services() as services:
        for n, invoice_id in enumerate(ids):
            await enqueue_credited(services, invoice_id, 1_000 + n)
        relay.sb.set_faults(api_error_rate=0.2, api_lost_response_rate=0.3)
        with anyio.CancelScope() as killed:
            async with forwarding_worker(services):
                await await_for(partial(_sent_at_least, services, 8), what="a few batches sent")
                killed.cancel()
                await anyio.sleep_forever()
        assert (await stream_state(services.store)).lag > 0  # killed mid-run
        relay.sb.set_faults(api_error_rate=0.0, api_lost_response_rate=0.0)
        async with forwarding_worker(services):
            for invoice_id in ids:
                forwarded = partial(_forwarded, services, invoice_id)
                await await_for(forwarded, within=20, what=invoice_id)
    assert [[t.amount for t in forwards_of(i)] for i in ids] == [[950 + n] for n in range(48)]


async def _sent_at_least(services: Services, count: int) -> bool:
    counters = await services.store.redis.hgetall(services.store.keys.forward_counters())
    return int(counters.get("items_sent", 0)) >= count


async def test_one_stuck_consumer_leaves_the_part_unbeaten(relay: Relay) -> None:
    """The part's heartbeat beats once every consumer has gone round: a consumer stuck in a
    call makes it stale however busy the other is."""
    rounds, went_round = 0, anyio.Event()

    class Counting(ForwardingWorker):
        async def step(self, *, block: bool = True) -> bool | None:
            nonlocal rounds
            rounds += 1
            if rounds > 6:
                went_round.set()
            return await super().step(block=block)

    class Stuck(ForwardingWorker):
        async def run(self, stop: anyio.Event, beat: Callable[[], None] | None = None) -> None:
            await stop.wait()

    relay = replace(relay, settings=relay.settings.model_copy(update={"forward_block_ms": 10}))
    async with relay.services() as services:
        startup = RetryPolicy.startup(relay.settings)
        for second, beaten in ((Stuck, False), (Counting, True)):
            workers = [
                relay.worker(services, "a", cls=Counting),
                relay.worker(services, "b", cls=second),
            ]
            heartbeat = Heartbeat("forwarding_worker")
            rounds, went_round = 0, anyio.Event()
            async with forwarding.forwarding_worker(workers, startup, heartbeat):
                with anyio.fail_after(10):  # rounds of the busy consumer
                    await went_round.wait()
            assert heartbeat.watched is beaten


async def _forwarded(services: Services, invoice_id: str) -> bool:
    return (await ledger_of(services, invoice_id)).get("stage") in {"sent", "success"}


async def _stage(services: Services, invoice_id: str, stage: str) -> bool:
    current = await services.store.redis.hget(
        services.store.keys.webhook_ledger(invoice_id), "stage"
    )
    return bool(current == stage)


async def test_refusal_naming_no_item_is_sorted_out_item_by_item(relay: Relay) -> None:
    class VagueBank(BankGateway):
        """Refuses any batch of more than one with an error that names no position."""

        async def create_transfers(self, transfers: list[NewTransfer]) -> list[Transfer]:
            if len(transfers) > 1:
                raise BankInputError("create_transfers", [ProviderError("invalidJson", "no")])
            return await super().create_transfers(transfers)

    ids = credit_invoices(relay.sb, [1_000] * 3)

    async with relay.services() as services:
        for invoice_id in ids:
            await enqueue_credited(services, invoice_id, 1_000)
        services.bank = VagueBank(relay.settings, policy=services.bank.policy)
        await forward_all(relay.worker(services), services)
    assert [len(forwards_of(invoice_id)) for invoice_id in ids] == [1, 1, 1]
    assert await transfer_calls(relay) == 4  # the refused batch, then one call per item


async def test_balance_refusal_waits_through_the_seam_and_the_rest_is_sent(relay: Relay) -> None:
    short, other = credit_invoices(relay.sb, [1_000, 2_000])

    class ShortBank(BankGateway):
        """Refuses the first item of a batch of two for lack of balance (nothing created)."""

        async def create_transfers(self, transfers: list[NewTransfer]) -> list[Transfer]:
            if len(transfers) == 2:
                error = ProviderError("invalidBalance", "transfers[0]: insufficient balance")
                raise BankInputError("create_transfers", [error])
            return await super().create_transfers(transfers)

    waited: list[tuple[list[str], str]] = []

    class Recording(ForwardingWorker):
        async def _wait_for_balance(self, entries: Sequence[Entry], reason: str) -> None:
            waited.append(([e.item.invoice_id for e in entries if e.item], reason))
            await super()._wait_for_balance(entries, reason)

    async with relay.services() as services:
        for invoice_id, amount in ((short, 1_000), (other, 2_000)):
            await enqueue_credited(services, invoice_id, amount)
        services.bank = ShortBank(relay.settings, policy=services.bank.policy)
        await forward_all(relay.worker(services, cls=Recording), services)
        assert await services.store.redis.xlen(services.store.keys.forward_dead_letters()) == 0
        ledger = await services.store.redis.hgetall(services.store.keys.webhook_ledger(short))
        assert ledger["stage"] == "waiting"
    assert waited == [([short], "invalidBalance: transfers[0]: insufficient balance")]
    assert forwards_of(short) == []
    assert [t.amount for t in forwards_of(other)] == [1_950]


async def test_credentials_refused_while_forwarding_stop_the_worker_and_keep_the_entries(
    relay: Relay,
) -> None:
    """Credentials revoked (or a key rotated wrongly) while running: the worker dies loudly
    (its process exits 2 and is restarted), sends nothing, dead-letters nothing; the forwards
    wait in the stream and go out once, with good credentials."""
    [invoice_id] = credit_invoices(relay.sb, [2_000])
    other_key, _ = new_key_pair()
    revoked = settings_for(
        relay.sb, relay.settings.redis_url or "", relay.settings.redis_key_prefix,
        **(MONEY_PATH | {"stark_private_key": other_key}),
    )  # fmt: skip

    async with relay.services() as services:
        await enqueue_credited(services, invoice_id, 2_000)
        refused = relay.worker(services, bank=BankGateway(revoked))
        with pytest.raises(CredentialsRefused, match="STARK_PRIVATE_KEY") as caught:
            await refused.run(anyio.Event())
        assert caught.value.exit_code == 2
        assert await services.store.redis.xlen(services.store.keys.forward_dead_letters()) == 0
        assert (await stream_state(services.store)).pending == 1
        assert forwards_of(invoice_id) == []
        await forward_all(relay.worker(services), services)
    assert [t.amount for t in forwards_of(invoice_id)] == [1_950]
