"""The gateway against starksandbox through the official SDK: typed results, typed errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from starkrelay.bank import BankGateway, BankInputError, NewInvoice, NewTransfer
from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

DUE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def invoice(tags: tuple[str, ...], amount: int = 1500) -> NewInvoice:
    return NewInvoice(
        amount=amount, tax_id="012.345.678-90", name="Ana Lima", due=DUE, expiration=3600, tags=tags
    )


def transfer(
    external_id: str, amount: int = 700, tax_id: str = "20.018.183/0001-80"
) -> NewTransfer:
    return NewTransfer(
        amount=amount,
        name="Stark Bank S.A.",
        tax_id=tax_id,
        bank_code="20018183",
        branch_code="0001",
        account_number="6341320293482496",
        account_type="payment",
        external_id=external_id,
        tags=(f"invoice:{external_id}",),
    )


async def test_invoices_created_in_one_call_and_found_by_tag(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    created = await bank.create_invoices(
        [invoice(("batch:a",)), invoice(("batch:a",), 2500), invoice(("batch:b",))]
    )
    assert [i.amount for i in created] == [1500, 2500, 1500]
    assert all(i.status == "created" and i.due == DUE for i in created)
    found = await bank.find_invoices_by_tags(["batch:a"])
    assert sorted(i.id for i in found) == sorted(i.id for i in created[:2])
    again = await bank.get_invoice(created[2].id)
    assert (again.id, again.amount, again.tags) == (created[2].id, 1500, ("batch:b",))


async def test_input_errors_keep_codes_and_item_positions(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    with pytest.raises(BankInputError) as caught:
        await bank.create_transfers([transfer("ok-1"), transfer("bad-1", tax_id="123")])
    error = caught.value
    assert error.codes == ["invalidTaxId"]
    assert [error.item_index(e) for e in error.errors] == [1]
    assert await bank.find_transfers(tags=["invoice:ok-1"]) == []  # all or none


async def test_transfers_created_and_found_by_tag_external_id_and_status(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    created = await bank.create_transfers([transfer("t-1"), transfer("t-2", 800)])
    assert [t.external_id for t in created] == ["t-1", "t-2"]
    found = await bank.find_transfers(tags=["invoice:t-1", "invoice:t-2"], external_ids=["t-2"])
    assert [t.id for t in found] == [created[1].id]
    assert (await bank.get_transfer(created[0].id)).amount == 700
    with pytest.raises(BankInputError) as caught:
        await bank.create_transfers([transfer("t-1")])
    assert caught.value.codes == ["invalidExternalId"]
    sandbox.wait_until(lambda: sandbox.summary()["transfers"].get("created", 0) == 0)
    logs = [log async for log in bank.iter_transfer_logs(transfer_ids=[created[0].id])]
    assert logs
    assert {log.transfer.id for log in logs} == {created[0].id}


async def test_undelivered_events_are_raw_api_json_and_can_be_marked(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    hook = await bank.create_webhook("http://127.0.0.1:9/hook", ["invoice"])
    [created] = await bank.create_invoices([invoice(("events",))])
    sandbox.pay_invoice(created.id)
    sandbox.drain()
    events = [e async for e in bank.iter_undelivered_events()]
    mine = [e for e in events if e["log"]["invoice"]["id"] == created.id]
    assert {e["log"]["type"] for e in mine} >= {"created", "credited"}
    credited = next(e for e in mine if e["log"]["type"] == "credited")
    assert credited["subscription"] == "invoice"
    assert credited["isDelivered"] is False
    assert "nominalAmount" in credited["log"]["invoice"]  # camelCase, as on the wire
    await bank.mark_event_delivered(credited["id"])
    left = [e["id"] async for e in bank.iter_undelivered_events()]
    assert credited["id"] not in left
    logs = [
        log async for log in bank.iter_invoice_logs(types=["credited"], invoice_ids=[created.id])
    ]
    assert [log.invoice.fee for log in logs] == [50]
    await bank.delete_webhook(hook.id)


async def test_public_key_webhooks_and_balance(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    pem = await bank.fetch_public_key()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem.strip() != sandbox.public_key.strip()  # Stark's signing key, not ours
    hook = await bank.create_webhook("http://127.0.0.1:9/a", ["invoice", "transfer"])
    assert await bank.list_webhooks() == [hook]
    await bank.delete_webhook(hook.id)
    assert await bank.list_webhooks() == []
    assert (await bank.get_balance()).currency == "BRL"
