"""Retries: transient failures (emulator 500s, lost responses, refused connections) are retried
up to the deadline, creations never duplicate, other failures surface at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.ports import free_port

from starkrelay.bank import (
    BankError,
    BankGateway,
    BankUnavailableError,
    NewInvoice,
    NewTransfer,
    RetryPolicy,
)
from starkrelay.core import metrics
from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

PATIENT = RetryPolicy(deadline=20.0, max_wait=0.01, initial=0.001)
BRIEF = RetryPolicy(deadline=0.2, max_wait=0.01, initial=0.001)


def calls(operation: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("starkrelay_bank_calls_total", {"operation": operation})
        or 0.0
    )


def errors(operation: str, kind: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "starkrelay_bank_errors_total", {"operation": operation, "kind": kind}
        )
        or 0.0
    )


def invoices(tag: str, n: int) -> list[NewInvoice]:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return [
        NewInvoice(amount=1000 + i, tax_id="012.345.678-90", name="Ana", due=due,
                   expiration=3600, tags=("retries", tag))
        for i in range(n)
    ]  # fmt: skip


async def test_server_errors_are_retried_until_the_deadline(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings(), policy=BRIEF)
    sandbox.set_faults(api_error_rate=1.0)
    before, failures = calls("get_balance"), errors("get_balance", "server_error")
    with pytest.raises(BankUnavailableError) as caught:
        await bank.get_balance()
    assert caught.value.kind == "server_error"
    assert calls("get_balance") - before >= 2
    assert errors("get_balance", "server_error") - failures == calls("get_balance") - before


async def test_flaky_api_eventually_answers(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings(), policy=PATIENT)
    sandbox.set_faults(api_error_rate=0.5)

    for _ in range(10):
        assert (await bank.get_balance()).currency == "BRL"


async def test_lost_responses_never_duplicate_an_invoice_batch(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings(), policy=PATIENT)

    sandbox.set_faults(api_lost_response_rate=0.6)
    returned = {}
    for batch in range(6):
        tag = f"batch:{batch}"
        returned[tag] = await bank.create_invoices(invoices(tag, 3), batch_tag=tag)
    sandbox.set_faults(api_lost_response_rate=0.0)
    for tag, created in returned.items():
        stored = await bank.find_invoices_by_tags([tag])
        assert len(stored) == 3
        assert sorted(i.id for i in stored) == sorted(i.id for i in created)


async def test_untagged_invoice_creation_is_not_retried(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings(), policy=PATIENT)
    sandbox.set_faults(api_error_rate=1.0)
    before = calls("create_invoices")
    with pytest.raises(BankUnavailableError):
        await bank.create_invoices(invoices("x", 1))
    assert calls("create_invoices") - before == 1


async def test_lost_responses_never_duplicate_a_transfer(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings(), policy=PATIENT)

    def transfer(n: int) -> NewTransfer:
        return NewTransfer(
            amount=100 + n, name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
            bank_code="20018183", branch_code="0001", account_number="6341320293482496",
            account_type="payment", external_id=f"invoice-{n}", tags=(f"invoice:{n}",),
        )  # fmt: skip

    sandbox.set_faults(api_lost_response_rate=0.6)
    created = []
    for first in range(0, 12, 3):
        created += await bank.create_transfers([transfer(n) for n in range(first, first + 3)])
    sandbox.set_faults(api_lost_response_rate=0.0)
    assert [t.external_id for t in created] == [f"invoice-{n}" for n in range(12)]
    stored = await bank.find_transfers(tags=[f"invoice:{n}" for n in range(12)])
    assert sorted(t.external_id or "" for t in stored) == sorted(f"invoice-{n}" for n in range(12))


async def test_refused_connection_is_transient(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(stark_api_url=f"http://127.0.0.1:{free_port()}")
    bank = BankGateway(settings, policy=BRIEF)
    with pytest.raises(BankUnavailableError) as caught:
        await bank.get_balance()
    assert caught.value.kind == "connection"


async def test_unexpected_status_is_not_retried(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(
        relay_settings(stark_api_url=sandbox.url + "/no-such-prefix"), policy=PATIENT
    )
    before = calls("get_balance")
    with pytest.raises(BankError) as caught:
        await bank.get_balance()
    assert not isinstance(caught.value, BankUnavailableError)
    assert "unexpected HTTP status 404" in str(caught.value)
    assert calls("get_balance") - before == 1
