"""A stranger's workspace, signed with the same key, tries to steer our forwards.

Two emulators share one signing key, as Stark Bank signs every workspace's events with one
key. The stranger registers our URL as their webhook and creates, in their own workspace,
transfers whose ``external_id`` and tag name our invoices (failed for lack of balance,
processing, successful; before and after our credit). Our workspace id is not known to the
relay (a fresh Redis), so the cheap filter admits them all: only the evidence rule stands.
Whatever they send, every credited invoice of ours ends with exactly one successful transfer
of ours, for what we hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import starkbank
from tests.support.relay_harness import (
    Relay,
    create_invoice,
    faults_after_ownership_read,
    relay_context,
)

from sdk_redirect import point_sdk_at
from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.forwarding.balance_wait import checked_pass
from starksandbox.keys import generate_private_key, private_pem
from starksandbox.testing import SandboxHandle, running_sandbox

pytestmark = pytest.mark.anyio

KEY = private_pem(generate_private_key())
OURS, THEIRS = "1111111111111111", "2222222222222222"
FEE = 50


@contextmanager
def two_workspaces(
    redis_url: str, key_prefix: str, our_balance: int
) -> Iterator[tuple[Relay, SandboxHandle]]:
    theirs_config = {"signing_key": KEY, "workspace_id": THEIRS, "pay_share": 0.0}
    ours_config = {
        "signing_key": KEY, "workspace_id": OURS, "pay_share": 0.0,
        "initial_balance": our_balance, "invoice_fee": FEE,
    }  # fmt: skip
    with (
        running_sandbox(**theirs_config) as theirs,
        relay_context(redis_url, key_prefix, sandbox=ours_config) as relay,
    ):
        relay.register_webhook()
        assert relay.server is not None
        with as_stranger(theirs, relay.sb):
            starkbank.webhook.create(url=relay.server.webhook_url, subscriptions=["transfer"])
        yield relay, theirs


@contextmanager
def as_stranger(theirs: SandboxHandle, ours: SandboxHandle) -> Iterator[None]:
    """The SDK acts in the stranger's workspace (nothing of ours calls it meanwhile)."""
    point_sdk_at(theirs.url)
    starkbank.user = theirs.project
    try:
        yield
    finally:
        point_sdk_at(ours.url)
        starkbank.user = ours.project


def stranger_transfers(theirs: SandboxHandle, ours: SandboxHandle, names: list[str]) -> None:
    """Transfers in the stranger's workspace named like our forwards (``invoice-<id>[-rN]``),
    delivered to our webhook."""
    with as_stranger(theirs, ours):
        for external_id in names:
            invoice_id = external_id.split("-")[1]
            starkbank.transfer.create(
                [
                    starkbank.Transfer(
                        amount=1_000, bank_code="20018183", branch_code="0001",
                        account_number="6341320293482496", account_type="payment",
                        name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
                        external_id=external_id, tags=[f"invoice:{invoice_id}"],
                    )
                ]
            )  # fmt: skip
    theirs.wait_until(lambda: _settled(theirs, ours, len(names)), timeout=10)
    theirs.drain()


def _settled(theirs: SandboxHandle, ours: SandboxHandle, count: int) -> bool:
    with as_stranger(theirs, ours):
        statuses = [t.status for t in starkbank.transfer.query(limit=count)]
    return all(s in {"success", "failed"} for s in statuses)


def our_forwards(invoice_id: str) -> list[Any]:
    return list(starkbank.transfer.query(tags=[f"invoice:{invoice_id}"]))


async def settle_everything(relay: Relay, services: Services) -> None:
    """What the background parts do over a day: forward, look hints up, release waiting
    forwards, reconcile; until nothing is left to do."""
    worker = relay.worker(services)
    for _ in range(4):
        for _ in range(30):
            await worker.step(block=False)
        await checked_pass(services.store, services.bank)
        relay.sb.drain()
        await run_reconciliation(services)


@pytest.mark.parametrize("slow", ["latency", "errors"])
async def test_strangers_transfer_events_leave_each_credit_forwarded_once(
    redis_url: str, key_prefix: str, slow: str
) -> None:
    with two_workspaces(redis_url, key_prefix, our_balance=10**9) as (relay, theirs):
        invoices = [create_invoice(amount).id for amount in (2_000, 3_000, 4_000)]
        a, b, c = invoices
        theirs.deposit(2_000)  # two of their transfers succeed, the others fail: no balance
        # before our credit: their success names our first attempt, their failure a re-send
        stranger_transfers(theirs, relay.sb, [f"invoice-{a}", f"invoice-{b}", f"invoice-{a}-r1"])
        for invoice_id in invoices:
            relay.sb.pay_invoice(invoice_id)
        relay.sb.drain()
        # after our credit, before our forward: more of the same
        stranger_transfers(theirs, relay.sb, [f"invoice-{c}-r1", f"invoice-{c}", f"invoice-{b}-r2"])

        async with relay.services() as services:
            worker = relay.worker(services)
            faults = {"latency": {"api_latency": 0.3}, "errors": {"api_error_rate": 1.0}}
            faults_after_ownership_read(worker, relay, **faults[slow])
            for _ in range(3):
                await worker.step(block=False)
            relay.sb.set_faults(api_latency=0.0, api_error_rate=0.0)
            await settle_everything(relay, services)
            ledgers = {
                i: dict(await services.store.redis.hgetall(services.store.keys.webhook_ledger(i)))
                for i in invoices
            } | {"counters": dict(await services.store.redis.hgetall(
                services.store.keys.forward_counters()))}  # fmt: skip
        relay.sb.drain()
        for invoice_id, amount in zip(invoices, (2_000, 3_000, 4_000), strict=True):
            forwards = our_forwards(invoice_id)
            assert [(t.external_id, t.status, t.amount) for t in forwards] == [
                (f"invoice-{invoice_id}", "success", amount - FEE)
            ]
            assert ledgers[invoice_id]["stage"] == "success"
            assert "r1" not in ledgers[invoice_id].get("transfer:0", "")
        assert int(ledgers["counters"]["foreign_events"]) >= 1


async def test_a_strangers_success_cannot_block_a_forward_that_waits_for_our_balance(
    redis_url: str, key_prefix: str
) -> None:
    """Their successful ``invoice-<ours>`` must not mark ours forwarded: when our own forward
    fails for lack of balance it waits, and after a deposit it is sent, once."""
    with two_workspaces(redis_url, key_prefix, our_balance=-1_950) as (relay, theirs):
        [invoice_id] = [create_invoice(2_000).id]
        relay.sb.pay_invoice(invoice_id)  # our balance: 0
        relay.sb.drain()
        theirs.deposit(5_000)
        stranger_transfers(theirs, relay.sb, [f"invoice-{invoice_id}"])

        async with relay.services() as services:
            await settle_everything(relay, services)
            stage = await services.store.redis.hget(
                services.store.keys.webhook_ledger(invoice_id), "stage"
            )
            relay.sb.deposit(1_950)
            await settle_everything(relay, services)
            before_deposit = str(stage)
        assert before_deposit == "waiting"
        relay.sb.drain()
        statuses = sorted((t.external_id, t.status) for t in our_forwards(invoice_id))
        assert statuses == [
            (f"invoice-{invoice_id}", "failed"),
            (f"invoice-{invoice_id}-r1", "success"),
        ]
