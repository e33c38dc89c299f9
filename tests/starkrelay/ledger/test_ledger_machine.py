"""The ledger driven through random interleavings, on the real Redis scripts and the emulator.

A Hypothesis state machine plays a day of bad luck: credits, genuine and duplicated events,
a stranger's signed transfer events naming our invoices, creates that fail or lose their
answer, worker crashes, a short balance and deposits, reversals, re-drives, balance passes
and reconciliations, in any order. After every step: no invoice has two transfers that moved
or may move money, and no transfer sends more than the credit left. At the end, once the
faults clear and the balance covers everything: every invoice we still hold money for is
forwarded exactly once, for no more than it was credited and no less than we still hold.

Examples: 100 by default, 400 under ``CI=true`` (``HYPOTHESIS_PROFILE=ci``); ``MACHINE_EXAMPLES=n``
sets any number.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
import starkbank
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from tests.support.relay_harness import FAST_POLICY, MONEY_PATH
from tests.support.settings import settings_for

from starkrelay.api.deps import Services
from starkrelay.api.wiring import build_worker, run_reconciliation
from starkrelay.app import open_services
from starkrelay.bank import BankGateway
from starkrelay.forwarding.balance_wait import checked_pass
from starkrelay.forwarding.dead_letters import list_dead_letters, retry_dead_letters
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.worker import ForwardingWorker
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, take_event
from starksandbox.testing import SandboxHandle, running_sandbox

FEE = 50
LIVE = {"created", "processing", "success"}
POLICY = IntakePolicy(replay_window_seconds=3600)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
EXAMPLES = int(os.environ.get("MACHINE_EXAMPLES", 0)) or {"dev": 100, "ci": 400}.get(PROFILE, 100)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class LedgerMachine(RuleBasedStateMachine):
    sandbox: SandboxHandle
    redis_url: str

    invoices = Bundle("invoices")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.sandbox.reset()
        self.settings = settings_for(
            self.sandbox, self.redis_url, f"machine-{uuid.uuid4().hex[:12]}",
            **(MONEY_PATH | {"forward_max_deliveries": 2}),
        )  # fmt: skip
        self.services: Services = self.run(
            self.stack.enter_async_context(
                open_services(self.settings, bank=BankGateway(self.settings, policy=FAST_POLICY))
            )
        )
        self.run(ensure_group(self.services.store))
        self.worker = self.new_worker()
        self.credited: dict[str, int] = {}
        """Invoice id -> what the credit left to forward (amount - fee)."""
        self.events = 0

    # --- plumbing -----------------------------------------------------------------------
    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def new_worker(self) -> ForwardingWorker:
        return build_worker(self.services, "machine-worker")

    def teardown(self) -> None:
        try:
            self.settle_everything()
            self.check_every_credit_forwarded_once()
        finally:
            self.sandbox.set_faults(api_error_rate=0.0, api_lost_response_rate=0.0)
            self.run(self.stack.aclose())
            self.loop.close()

    def take(self, raw: dict[str, Any]) -> None:
        self.events += 1
        self.run(take_event(self.services.store, parse_event(raw), POLICY))

    def our_transfers(self) -> list[Any]:
        return list(starkbank.transfer.query(limit=100))

    # --- rules --------------------------------------------------------------------------
    @initialize(target=invoices, amount=st.integers(min_value=100, max_value=5_000))
    def first_credit(self, amount: int) -> str:
        return self.credit(amount)

    @rule(target=invoices, amount=st.integers(min_value=100, max_value=5_000))
    @precondition(lambda self: len(self.credited) < 4)
    def another_credit(self, amount: int) -> str:
        return self.credit(amount)

    def credit(self, amount: int) -> str:
        [invoice] = starkbank.invoice.create(
            [starkbank.Invoice(amount=amount, name="Ana Souza", tax_id="012.345.678-90")]
        )
        self.sandbox.pay_invoice(invoice.id)
        self.credited[invoice.id] = amount - FEE
        return str(invoice.id)

    @rule(invoice_id=invoices, claimed=st.integers(min_value=0, max_value=10**7))
    def credited_event(self, invoice_id: str, claimed: int) -> None:
        """A genuine or replayed credited event; the body's amount is any claim at all."""
        self.take(
            {
                "id": f"evcredit{invoice_id}x{self.events % 3}", "created": _now(),
                "subscription": "invoice",
                "log": {"id": f"l{self.events}", "created": _now(), "type": "credited",
                        "invoice": {"id": invoice_id, "amount": claimed, "fee": FEE}},
            }
        )  # fmt: skip

    @rule(
        invoice_id=invoices,
        attempt=st.integers(min_value=0, max_value=2),
        log_type=st.sampled_from(["created", "processing", "success", "failed"]),
        balance=st.booleans(),
    )
    def strangers_transfer_event(
        self, invoice_id: str, attempt: int, log_type: str, balance: bool
    ) -> None:
        """A signed transfer event from another workspace naming our invoice."""
        external_id = f"invoice-{invoice_id}" + (f"-r{attempt}" if attempt else "")
        self.take(
            {
                "id": f"evstranger{self.events}", "created": _now(), "subscription": "transfer",
                "log": {"id": f"ls{self.events}", "created": _now(), "type": log_type,
                        "errors": ["invalidbalance"] if balance and log_type == "failed" else [],
                        "transfer": {"id": f"9{self.events:015d}", "amount": 1,
                                     "externalId": external_id, "tags": [f"invoice:{invoice_id}"]}},
            }
        )  # fmt: skip

    @rule(pick=st.integers(min_value=0, max_value=49))
    def our_transfer_event(self, pick: int) -> None:
        """A genuine event of one of our transfers: any of its logs, in any order, again."""
        logs = list(starkbank.transfer.log.query(limit=50))
        if not logs:
            return
        log = logs[pick % len(logs)]
        self.take(
            {
                "id": f"evours{log.id}x{self.events % 2}", "created": _now(),
                "subscription": "transfer",
                "log": {"id": log.id, "created": _now(), "type": log.type,
                        "errors": list(log.errors or []),
                        "transfer": {"id": log.transfer.id, "amount": log.transfer.amount,
                                     "externalId": log.transfer.external_id,
                                     "tags": list(log.transfer.tags or [])}},
            }
        )  # fmt: skip

    @rule(fault=st.sampled_from(["none", "errors", "lost_answer"]), crash=st.booleans())
    def worker_step(self, fault: str, crash: bool) -> None:
        faults = {
            "none": {},
            "errors": {"api_error_rate": 1.0},
            "lost_answer": {"api_lost_response_rate": 1.0},
        }[fault]
        self.sandbox.set_faults(**faults)
        try:
            self.run(self.worker.step(block=False))
        finally:
            self.sandbox.set_faults(api_error_rate=0.0, api_lost_response_rate=0.0)
        if crash:  # a new process with the same consumer name: its pending entries come back
            self.worker = self.new_worker()

    @rule(amount=st.integers(min_value=1, max_value=6_000))
    def deposit(self, amount: int) -> None:
        self.sandbox.deposit(amount)

    @rule(invoice_id=invoices, share=st.sampled_from([0.0, 0.5]))
    def reversal(self, invoice_id: str, share: float) -> None:
        invoice = starkbank.invoice.get(invoice_id)
        if invoice.amount > 0:
            starkbank.invoice.update(invoice_id, amount=int(invoice.amount * share))

    @rule()
    def balance_pass(self) -> None:
        self.run(checked_pass(self.services.store, self.services.bank))

    @rule()
    def reconcile(self) -> None:
        self.run(run_reconciliation(self.services))

    @rule()
    def redrive(self) -> None:
        letters = self.run(list_dead_letters(self.services.store))
        self.run(retry_dead_letters(self.services.store,
                                    self.services.bank, letters))  # fmt: skip

    # --- what must hold -----------------------------------------------------------------
    @invariant()
    def at_most_one_transfer_moves_money_per_invoice(self) -> None:
        moving: dict[str, list[Any]] = {}
        for transfer in self.our_transfers():
            if transfer.status in LIVE:
                invoice_id = transfer.external_id.split("-")[1]
                moving.setdefault(invoice_id, []).append(transfer)
                assert transfer.amount <= self.credited[invoice_id], transfer
        doubled = {i: [t.external_id for t in ts] for i, ts in moving.items() if len(ts) > 1}
        assert doubled == {}

    # --- the end of the day -------------------------------------------------------------
    def settle_everything(self) -> None:
        self.sandbox.deposit(100_000)
        for _ in range(6):
            self.redrive()
            for _ in range(5):
                self.run(self.worker.step(block=False))
            self.sandbox.wait_until(self.nothing_in_flight, timeout=5)
            self.balance_pass()
            self.reconcile()

    def nothing_in_flight(self) -> bool:
        return all(t.status not in {"created", "processing"} for t in self.our_transfers())

    def check_every_credit_forwarded_once(self) -> None:
        successes: dict[str, list[int]] = {}
        for transfer in self.our_transfers():
            if transfer.status == "success":
                successes.setdefault(transfer.external_id.split("-")[1], []).append(transfer.amount)
        for invoice_id, credited_net in self.credited.items():
            held = starkbank.invoice.get(invoice_id).amount - FEE
            sent = successes.get(invoice_id, [])
            if held > 0:
                assert len(sent) == 1, (invoice_id, sent)
            assert len(sent) <= 1, (invoice_id, sent)
            for amount in sent:
                assert max(held, 1) <= amount <= credited_net, (invoice_id, amount, held)


@pytest.fixture(scope="module")
def machine_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(pay_share=0.0, initial_balance=3_000, invoice_fee=FEE) as sandbox:
        yield sandbox


def test_the_ledger_keeps_money_moving_exactly_once(
    machine_sandbox: SandboxHandle, redis_url: str
) -> None:
    LedgerMachine.sandbox = machine_sandbox
    LedgerMachine.redis_url = redis_url
    machine = settings(
        max_examples=EXAMPLES, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )(LedgerMachine)  # fmt: skip
    machine.TestCase().runTest()
