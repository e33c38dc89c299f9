"""The early-payment discount (INVOICE_DISCOUNT_*): built into each campaign invoice and
priced by Stark Bank (starksandbox, through the SDK) when the payer pays early or late."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Discount, Invoice
from starkrelay.core.settings import Settings, SettingsError, load_settings
from starkrelay.invoicing.payers import PayerFactory, build_invoices
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_no_discount_by_default() -> None:
    (invoice,) = build_invoices(
        PayerFactory(seed=1), count=1, amount_min=1000, amount_max=1000,
        due_seconds=172800, expiration_seconds=0, tags=(), now=NOW,
    )  # fmt: skip
    assert invoice.discounts == ()


def test_discount_ends_after_its_window_but_never_after_due() -> None:
    def first(window: float) -> Discount:
        (invoice,) = build_invoices(
            PayerFactory(seed=1), count=1, amount_min=1000, amount_max=1000,
            due_seconds=172800, expiration_seconds=0, tags=(), now=NOW,
            discount_percent=5.0, discount_seconds=window,
        )  # fmt: skip
        (discount,) = invoice.discounts
        return discount

    assert first(86400) == Discount(percentage=5.0, due=NOW + timedelta(days=1))
    assert first(10**9).due == NOW + timedelta(days=2)


def test_a_discount_window_past_the_due_date_is_refused(
    relay_settings: Callable[..., Settings],
) -> None:
    base = relay_settings()
    with pytest.raises(SettingsError, match="INVOICE_DISCOUNT_SECONDS"):
        load_settings(
            _env_file=None,
            stark_project_id=base.stark_project_id,
            stark_private_key=base.private_key_pem.get_secret_value(),
            invoice_discount_percent=5,
            invoice_discount_seconds=200000,
        )


@pytest.mark.sandbox(pay_share=0.0)  # the test pays each invoice itself, at chosen times
async def test_stark_bank_prices_early_on_time_and_late_payments(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(invoice_discount_percent=10, invoice_discount_seconds=3600)
    new = build_invoices(
        PayerFactory(seed=2), count=3, amount_min=10000, amount_max=10000,
        due_seconds=172800, expiration_seconds=5097600, tags=("discount-test",),
        discount_percent=settings.invoice_discount_percent,
        discount_seconds=settings.invoice_discount_seconds,
    )  # fmt: skip

    async def create() -> list[Invoice]:
        return await BankGateway(settings).create_invoices(new)

    early, on_time, late = await create()
    due = early.due
    assert due is not None
    assert sandbox.pay_invoice(early.id)["amount"] == 9000
    assert sandbox.pay_invoice(on_time.id, at=due - timedelta(hours=1))["amount"] == 10000
    # 2 % fine once, 1 % a month of interest pro rata: 3 days late = 0.1 %.
    assert sandbox.pay_invoice(late.id, at=due + timedelta(days=3))["amount"] == 10210
