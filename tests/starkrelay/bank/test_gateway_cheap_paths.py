"""The gateway's cheap paths: its SDK user parses the private key once, and transfers are
created with the SDK's raw signed request yet read exactly as the SDK's objects would be."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import ellipticcurve
import pytest
import starkbank
from ellipticcurve import Ecdsa
from starkcore.utils.checks import check_datetime, check_datetime_or_date

from starkrelay.bank import BankGateway, NewInvoice, NewTransfer, convert
from starkrelay.bank.models import Discount
from starkrelay.bank.project import ParsedKeyProject
from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


def forward(n: int) -> NewTransfer:
    return NewTransfer(
        amount=100 + n, name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
        bank_code="20018183", branch_code="0001", account_number="6341320293482496",
        account_type="payment", external_id=f"invoice-parsed-{n}", tags=(f"invoice:p{n}",),
    )  # fmt: skip


def test_the_key_is_parsed_at_construction_and_signs_like_the_pem(sandbox: SandboxHandle) -> None:
    user = ParsedKeyProject(environment="sandbox", id="1", private_key=sandbox.private_key)
    key = user.private_key()
    assert user.private_key() is key
    signature = Ecdsa.sign("message", key)
    public = ellipticcurve.PrivateKey.fromPem(sandbox.private_key).publicKey()
    assert Ecdsa.verify("message", signature, public)


def test_a_key_that_is_not_secp256k1_pem_is_refused_like_the_sdk() -> None:
    with pytest.raises(Exception, match="secp256k1"):
        ParsedKeyProject(environment="sandbox", id="1", private_key="not a key")


async def test_gateway_calls_authenticate_without_parsing_the_pem_again(
    relay_settings: Callable[..., Settings],
    sandbox: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank = BankGateway(relay_settings())
    parsed: list[str] = []
    original = ellipticcurve.PrivateKey.fromPem

    def counting(pem: str) -> Any:
        parsed.append(pem)
        return original(pem)

    # the SDK's User.private_key() calls PrivateKey.fromPem through this module attribute
    monkeypatch.setattr(ellipticcurve.PrivateKey, "fromPem", staticmethod(counting))

    created = await bank.create_transfers([forward(n) for n in range(3)])
    assert [t.amount for t in created] == [100, 101, 102]
    assert (await bank.get_balance()).amount >= 0
    found = await bank.find_transfers(tags=["invoice:p1"])
    assert [t.external_id for t in found] == ["invoice-parsed-1"]
    assert parsed == []


async def test_created_transfers_read_the_same_as_the_sdks_objects(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    bank = BankGateway(relay_settings())

    item = NewTransfer(
        amount=4321, name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
        bank_code="20018183", branch_code="0001", account_number="6341320293482496",
        account_type="payment", external_id="invoice-same-1", tags=("invoice:same-1",),
        description="forward",
    )  # fmt: skip
    [created] = await bank.create_transfers([item])  # the raw JSON answer
    again = await bank.get_transfer(created.id)  # the SDK's Transfer object
    assert created == again
    assert created.created is not None
    assert created.created.tzinfo is not None
    assert (created.amount, created.external_id, created.tags) == (
        4321, "invoice-same-1", ("invoice:same-1",)
    )  # fmt: skip


@pytest.mark.sandbox(pay_share=0.0)
async def test_credited_logs_read_the_same_as_the_sdks_objects(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    """The ownership read parses the raw JSON; it must equal the SDK's objects, field by field
    (amounts, fee, dates, tags), for invoices paid in full, with a discount and partly."""
    bank = BankGateway(relay_settings())
    now = datetime.now(UTC)

    made = await bank.create_invoices(
        [
            NewInvoice(amount=10_000, tax_id="012.345.678-90", name="Ana Lima",
                       due=now + timedelta(days=3), expiration=86_400, tags=("a", "b")),
            NewInvoice(amount=20_000, tax_id="012.345.678-90", name="Bia Souza",
                       due=now + timedelta(days=5), expiration=3_600,
                       discounts=(Discount(percentage=5.0, due=now + timedelta(days=1)),)),
            NewInvoice(amount=30_000, tax_id="20.018.183/0001-80", name="Caio Lopes",
                       due=now + timedelta(days=2), expiration=7_200),
        ]
    )  # fmt: skip
    ids = [invoice.id for invoice in made]
    sandbox.pay_invoice(ids[0])
    sandbox.pay_invoice(ids[1])
    sandbox.pay_invoice(ids[2], amount=12_345)
    raw = await bank.credited_logs([*ids, "4000000000000001"])
    sdk_logs, _ = starkbank.invoice.log.page(
        limit=100, types=["credited"], invoice_ids=ids, user=bank._user
    )
    expected = [convert.invoice_log(item) for item in sdk_logs]
    assert len(expected) == 3
    assert sorted(raw, key=lambda log: log.id) == sorted(expected, key=lambda log: log.id)
    by_invoice = {log.invoice.id: log.invoice for log in raw}
    assert by_invoice[ids[0]].tags == ("a", "b")
    assert by_invoice[ids[2]].amount == 12_345
    assert all(log.created is not None and log.created.tzinfo for log in raw)
    assert all(invoice.due is not None and invoice.due.tzinfo for invoice in by_invoice.values())


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T23:10:13.259100+00:00", "2026-12-01T23:10:13.000000+00:00",
        "2026-12-01T23:10:13+00:00", "2026-12-01", "2026-12-01T23:10:13.259+00:00", "**", None,
    ],
)  # fmt: skip
def test_api_dates_parse_like_the_sdk(value: str | None) -> None:
    for checked in (check_datetime, check_datetime_or_date):
        ours = convert._api_when(value, checked)
        assert ours == convert._when(checked(value))
        assert ours is None or ours.tzinfo == UTC
