"""Dead letters re-driven by a person: same attempt, checked with Stark Bank, at most once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.relay_harness import (
    Relay,
    credit_invoices,
    enqueue_credited,
    faults_after_ownership_read,
    forward_all,
    forwards_of,
    ledger_of,
    misdirected_worker,
    relay_context,
    unfamiliar_worker,
)
from typer.testing import CliRunner

from starkrelay.api.deps import Services
from starkrelay.cli import app
from starkrelay.forwarding.dead_letters import RetryOutcome, list_dead_letters, retry_dead_letters
from starkrelay.ledger import Evidence, Move, MoveOutcome, Stage, move
from starkrelay.webhooks.intake import IntakePolicy

pytestmark = pytest.mark.anyio

POLICY = IntakePolicy(replay_window_seconds=3600)


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """Money in the bank, invoices paid only by the tests, an invoice fee of 25 cents."""
    sandbox = {"initial_balance": 10**9, "pay_share": 0.0, "invoice_fee": 25}
    with relay_context(redis_url, key_prefix, serve=False, sandbox=sandbox) as r:
        yield r


async def stages(services: Services) -> dict[str, int]:
    counts = await services.store.redis.hgetall(services.store.keys.ledger_stages())
    return {stage: int(n) for stage, n in counts.items() if int(n)}


async def test_refused_item_retried_after_the_fix_is_sent_once(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [5_000])

    async with relay.services() as services:
        store = services.store
        await enqueue_credited(services, invoice_id, 5_000, fee=25)
        await forward_all(misdirected_worker(relay, services), services)
        [letter] = await list_dead_letters(store)
        assert "invalidBankCode" in letter.reason
        assert (letter.invoice_id, letter.kind) == (invoice_id, "refused")
        assert await stages(services) == {"dead": 1}

        [result] = await retry_dead_letters(store, services.bank, [letter])
        assert result.outcome is RetryOutcome.REQUEUED
        assert await list_dead_letters(store) == []
        assert await stages(services) == {"queued": 1}
        ledger = await ledger_of(services, invoice_id)
        assert (ledger["stage"], ledger["attempt"], ledger["redrives"]) == ("queued", "0", "1")
        assert ledger["entry:0"] == result.detail

        [again] = await retry_dead_letters(store, services.bank, [letter])
        assert again.outcome is RetryOutcome.ALREADY_RETRIED
        assert (
            await store.redis.xlen(store.keys.forward_stream()) == 2
        )  # the refused entry + one redrive

        await forward_all(relay.worker(services), services)  # destination fixed
        assert (await ledger_of(services, invoice_id))["stage"] == "sent"
        assert await stages(services) == {"sent": 1}
        counters = await store.redis.hgetall(store.keys.forward_counters())
        assert (counters["items_dead"], counters["items_redriven"]) == ("1", "1")
    [transfer] = forwards_of(invoice_id)
    assert transfer.amount == 5_000 - 25
    assert transfer.external_id == f"invoice-{invoice_id}"  # the same attempt, not a new identity


async def test_redrive_script_refuses_a_ledger_that_is_not_dead(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [2_000])

    async with relay.services() as services:
        store = services.store
        await enqueue_credited(services, invoice_id, 2_000, fee=25)
        await forward_all(misdirected_worker(relay, services), services)
        [letter] = await list_dead_letters(store)
        await store.redis.hset(
            store.keys.webhook_ledger(invoice_id), "stage", "success"
        )  # moved on
        outcome, detail = await move(store, Move(
            invoice_id, [Stage.DEAD], 0, Stage.QUEUED, 0, Evidence.REDRIVE, now=0.0,
            stream_fields={"invoice_id": invoice_id}, dead_letter_id=letter.id,
        ))  # fmt: skip
        assert (outcome, detail) == (MoveOutcome.NOT_AT, "success:0")
        assert len(await list_dead_letters(store)) == 1  # kept for a person
    assert forwards_of(invoice_id) == []


async def test_dead_letter_whose_transfer_exists_is_recorded_not_resent(relay: Relay) -> None:
    [invoice_id] = credit_invoices(relay.sb, [3_000])

    async with relay.services() as services:
        store = services.store
        await enqueue_credited(services, invoice_id, 3_000, fee=25)
        worker = relay.worker(services)
        # the first create takes effect but its answer is lost (a transient failure,
        # forgiven); every later create gets an answer nobody has seen (counted)
        faults_after_ownership_read(worker, relay, api_lost_response_rate=1.0)
        assert await worker.step(block=False) is None
        relay.sb.set_faults(api_lost_response_rate=0.0)
        worker = unfamiliar_worker(relay, services)
        for _ in range(3):  # FORWARD_MAX_DELIVERIES
            assert await worker.step(block=False) is None
        assert await worker.step(block=False) is True  # 4th delivery: dead-lettered
        [letter] = await list_dead_letters(store)
        assert letter.kind == "max_deliveries"
        assert len(forwards_of(invoice_id)) == 1  # yet Stark Bank holds the transfer

        [result] = await retry_dead_letters(store, services.bank, [letter])
        assert result.outcome is RetryOutcome.RECORDED
        [transfer] = forwards_of(invoice_id)
        assert transfer.id in result.detail
        ledger = await ledger_of(services, invoice_id)
        assert ledger["transfer:0"] == transfer.id
        assert ledger["stage"] in {"sent", "success"}
        assert await stages(services) == {ledger["stage"]: 1}
        assert await list_dead_letters(store) == []
        assert await store.redis.xlen(store.keys.forward_stream()) in {0, 1}  # nothing enqueued
    assert [t.amount for t in forwards_of(invoice_id)] == [2_975]


def test_cli_lists_and_retries_dead_letters(
    relay: Relay, redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = credit_invoices(relay.sb, [1_000, 2_000])

    async def dead_letter_two() -> None:
        async with relay.services() as services:
            await enqueue_credited(services, first, 1_000, fee=25)
            await enqueue_credited(services, second, 2_000, fee=25)
            await forward_all(misdirected_worker(relay, services), services)

    relay.run(dead_letter_two)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "STARK_PROJECT_ID": relay.sb.project_id,
        "STARK_PRIVATE_KEY": relay.sb.private_key,
        "STARK_API_URL": relay.sb.url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "LOG_LEVEL": "ERROR",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    listed = runner.invoke(app, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 dead letters" in listed.output
    for expected in (first, second, f"0 invoice-{first}", "R$ 9.75", "R$ 19.75", "invalidBankCode"):
        assert expected in listed.output

    refused = runner.invoke(app, ["dead-letters", "retry"])
    assert refused.exit_code == 1
    assert "--invoice ID" in refused.output

    retried = runner.invoke(app, ["dead-letters", "retry", "--invoice", first])
    assert retried.exit_code == 0, retried.output
    assert f"invoice {first}: requeued" in retried.output
    twice = runner.invoke(app, ["dead-letters", "retry", "--invoice", first])
    assert f"invoice {first}: no dead letter" in twice.output
    assert twice.exit_code == 1
    unknown = runner.invoke(app, ["dead-letters", "retry", "--invoice", second, "--invoice", "99"])
    assert unknown.exit_code == 1
    assert "invoice 99: no dead letter (unknown, or already retried)" in unknown.output
    assert f"invoice {second}: requeued" not in unknown.output  # nothing is retried on a typo
    assert "1 dead letters" in runner.invoke(app, ["dead-letters", "list"]).output

    async def drain() -> None:
        async with relay.services() as services:
            await forward_all(relay.worker(services), services)

    relay.run(drain)
    assert [t.amount for t in forwards_of(first)] == [975]
    assert forwards_of(second) == []
    everything = runner.invoke(app, ["dead-letters", "retry", "--all"])
    assert everything.exit_code == 0, everything.output
    assert everything.output.startswith(f"invoice {second}: requeued ")
    relay.run(drain)
    assert [t.amount for t in forwards_of(second)] == [1_975]
    assert "0 dead letters" in runner.invoke(app, ["dead-letters", "list"]).output
