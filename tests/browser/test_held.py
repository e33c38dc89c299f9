"""The Held page in a real Chromium: a person approves one held forward, and it is paid once.

Its own starkrelay (``serve``: API, webhook registration, forwarding worker) with
``FORWARD_MAX_AMOUNT`` at R$ 50.00: two invoices of R$ 100.00 are paid, both forwards are
held; the person ticks one and approves it; Stark Bank then holds exactly one transfer for it
and none for the other, which stays held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import starkbank
from browser_harness import screenshot
from browser_scenario import scenario_redis, scenario_settings, serving, wait_until
from playwright.sync_api import Page, expect
from tests.support.ports import free_port

from starkrelay.core.store import Keys
from starksandbox.testing import running_sandbox

AMOUNT, FEE = 10_000, 50


@dataclass
class HeldScenario:
    url: str
    keys: Keys
    redis: redis.Redis
    held_ids: list[str]


@pytest.fixture(scope="module")
def scenario(redis_url: str) -> Iterator[HeldScenario]:
    """Overrides the shared scenario for this module: two forwards held over the cap."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        scenario_redis(redis_url, "browser-held") as (keys, r),
        running_sandbox(pay_share=0.0, initial_balance=10**9, invoice_fee=FEE) as sb,
    ):
        settings = scenario_settings(
            sb, redis_url, keys.prefix, url, forward_max_amount=5_000, campaign_duration_seconds=0
        )
        with serving(settings, port):
            wait_until(lambda: bool(list(starkbank.webhook.query())), 20, "the webhook")
            invoices = starkbank.invoice.create(
                [starkbank.Invoice(amount=AMOUNT, name="Ana Souza", tax_id="012.345.678-90")
                 for _ in range(2)]
            )  # fmt: skip
            for invoice in invoices:
                sb.pay_invoice(invoice.id)
            wait_until(lambda: r.zcard(keys.forward_held()) == 2, 20, "two held forwards")
            yield HeldScenario(url, keys, r, [invoice.id for invoice in invoices])


def test_a_held_forward_is_approved_from_the_console_and_paid_once(
    signed_in: Page, scenario: HeldScenario
) -> None:
    page = signed_in
    chosen, other = scenario.held_ids
    page.get_by_role("link", name="Held").click()
    expect(page).to_have_url(f"{scenario.url}/console/held")
    for invoice_id in scenario.held_ids:
        row = page.locator(f"tr[data-held='{invoice_id}']")
        expect(row).to_contain_text("R$ 99.50")
        expect(row).to_contain_text("max amount")
    screenshot(page, "held")
    page.get_by_label(f"Choose invoice {chosen}").check()
    page.get_by_role("button", name="Approve chosen").click()
    expect(page.locator(".flash")).to_contain_text(f"Invoice {chosen} (R$ 99.50): approved")
    expect(page.locator(f"tr[data-held='{chosen}']")).to_have_count(0)
    expect(page.locator(f"tr[data-held='{other}']")).to_have_count(1)
    screenshot(page, "held-after-approval")

    def forwards(invoice_id: str) -> list[starkbank.Transfer]:
        return list(starkbank.transfer.query(tags=[f"invoice:{invoice_id}"]))

    wait_until(lambda: any(t.status == "success" for t in forwards(chosen)), 20, "the transfer")
    [transfer] = forwards(chosen)
    assert (transfer.amount, transfer.external_id) == (AMOUNT - FEE, f"invoice-{chosen}")
    assert forwards(other) == []
    ledger = scenario.redis.hgetall(scenario.keys.webhook_ledger(chosen))
    assert ledger["approved_by"].startswith("console:")
    page.goto(f"/console/invoices/{chosen}")
    expect(page.locator("main")).to_contain_text("Approved by console:")
