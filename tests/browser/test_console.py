"""The console in a real Chromium against a real starkrelay (see ``scenario``)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import starkbank
from browser_harness import ARTIFACTS, screenshot, sign_in
from browser_scenario import Scenario, wait_until
from playwright.sync_api import BrowserContext, Page, expect

from starkrelay.console.export import TOTALS
from starkrelay.ledger.identity import external_id_for

PAGE_WEIGHT_LIMIT = 200_000
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console-overview.png"


def api(scenario: Scenario, path: str) -> httpx.Response:
    response = httpx.get(scenario.url + path, headers=scenario.admin_headers, timeout=10)
    assert response.status_code == 200, response.text
    return response


def dig(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def test_sign_in_refuses_a_wrong_token_then_lets_the_right_one_in(
    page: Page, scenario: Scenario
) -> None:
    page.goto("/console/dead-letters")
    expect(page).to_have_url(re.compile(r"/console/signin\?next="))
    sign_in(page, token="not-the-admin-token-at-all", next_path="/console/dead-letters")
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    assert page.context.cookies() == [] or all(
        c["name"] != "starkrelay_console" for c in page.context.cookies()
    )
    screenshot(page, "signin-refused")
    sign_in(page, next_path="/console/dead-letters")
    expect(page).to_have_url(re.compile(r"/console/dead-letters$"))
    [cookie] = [c for c in page.context.cookies() if c["name"] == "starkrelay_console"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0


def test_a_post_without_the_csrf_token_is_refused(signed_in: Page, scenario: Scenario) -> None:
    request = signed_in.context.request
    refused = request.post(scenario.url + "/console/money/reconcile", form={"x": "1"})
    assert refused.status == 403
    assert "CSRF" in refused.text()
    wrong = request.post(
        scenario.url + "/console/dead-letters/redrive", form={"csrf": "forged", "all": "1"}
    )
    assert wrong.status == 403
    assert scenario.redis.xlen(scenario.keys.forward_dead_letters()) == 1  # nothing re-driven


def test_searching_an_external_id_opens_the_story_in_order(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in

    def forwarded_by_webhook(invoice_id: str) -> bool:
        redis, keys = scenario.redis, scenario.keys
        deliveries = redis.lrange(keys.webhook_deliveries(invoice_id), 0, -1)
        return redis.hget(keys.webhook_ledger(invoice_id), "stage") == "success" and any(
            '"outcome": "enqueued"' in d and '"source": "webhook"' in d for d in deliveries
        )

    invoice_id = next(i for i in scenario.paid_ids if forwarded_by_webhook(i))
    page.fill("#q", external_id_for(invoice_id))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/invoices/{invoice_id}$"))
    steps = page.locator("ol.timeline > li").evaluate_all(
        "items => items.map(i => [i.dataset.kind, i.querySelector('.what').textContent])"
    )
    kinds = [kind for kind, _ in steps]

    def first(kind: str, words: str = "") -> int:
        return next(n for n, (k, title) in enumerate(steps) if k == kind and words in title)

    order = [
        first("issued"),
        first("paid"),
        first("credited"),
        first("webhook", "invoice credited received: enqueued"),
        first("enqueued"),
        first("transfer"),
        first("transfer_log", "success"),
    ]
    assert order == sorted(order), steps
    sources = set(
        page.locator("ol.timeline > li").evaluate_all("i => i.map(x => x.dataset.source)")
    )
    assert {"stark_bank", "starkrelay"} <= sources
    expect(page.locator("[data-stage]")).to_have_text("success")
    story = api(scenario, f"/api/v1/invoices/{invoice_id}").json()
    assert [item["kind"] for item in story["items"]] == kinds
    screenshot(page, "invoice-story")
    [transfer] = starkbank.transfer.query(tags=[f"invoice:{invoice_id}"])
    page.fill("#q", transfer.id)  # a forward transfer's id finds its invoice too
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/invoices/{invoice_id}$"))
    page.fill("#q", "no-such-thing")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("No invoice, forward transfer or external id")


def test_reconcile_now_then_the_csv_totals_equal_the_report(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    page.goto("/console/money")
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.locator("#progress")).to_have_attribute("data-state", re.compile("running|done"))
    expect(page.locator("#progress[data-state=done]")).to_be_visible(timeout=20_000)
    expect(page.locator("table.report")).to_be_visible()
    report = api(scenario, "/api/v1/report.json").json()
    for line in TOTALS:
        assert page.locator(f"[data-line={line}]").get_attribute("data-cents") == str(report[line])
    with page.expect_download() as caught:
        page.locator("[data-download=csv]").click()
    text = caught.value.path().read_bytes().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    totals = {r["name"]: int(r["value"]) for r in rows if r["record"] == "total"}
    assert totals == {line: report[line] for line in totals}
    assert list(totals) == list(TOTALS)
    assert totals["net"] == totals["credited"] - totals["fees"]
    assert api(scenario, "/api/v1/report.csv").text == text
    screenshot(page, "money")


def test_a_refused_forward_is_re_driven_from_the_page_and_paid_once(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    dead = scenario.dead_invoice_id
    page.goto("/console/dead-letters")
    row = page.locator(f"tr[data-invoice='{dead}']")
    expect(row).to_contain_text("invalidBankCode")
    screenshot(page, "dead-letters")
    row.get_by_role("button", name=f"Re-drive invoice {dead}").click()
    expect(page.locator(".flash")).to_contain_text(f"Invoice {dead}: re-driven")
    expect(page.locator(f"tr[data-invoice='{dead}']")).to_have_count(0)
    expect(page.locator("[data-empty]")).to_be_visible()
    screenshot(page, "dead-letters-after-redrive")

    def forwarded() -> list[Any]:
        return [t for t in starkbank.transfer.query(tags=[f"invoice:{dead}"])]

    wait_until(
        lambda: any(t.status == "success" for t in forwarded()), 20, "the re-driven transfer"
    )
    [transfer] = forwarded()
    assert transfer.external_id == external_id_for(dead)
    ledger = scenario.redis.hgetall(scenario.keys.webhook_ledger(dead))
    assert transfer.amount == int(ledger["amount"])


def test_overview_shows_the_numbers_of_the_status_api(
    context: BrowserContext, scenario: Scenario
) -> None:
    page = context.new_page()
    sign_in(page)
    page.wait_for_url("**/console")
    # Page weight: bytes on the wire for a fresh load of the overview (HTML, CSS, htmx, icon).
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, float] = {}
    urls: dict[str, str] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto("/console", wait_until="networkidle")
    loaded = {r: size for r, size in sizes.items() if r in urls}  # sent after enabling
    weight = int(sum(loaded.values()))
    report = "\n".join(f"{int(loaded[r]):>8} {urls[r]}" for r in loaded)
    (ARTIFACTS / "overview-page-weight.txt").write_text(f"{weight} bytes\n{report}\n")
    print(f"\noverview page weight: {weight} bytes over {len(loaded)} requests\n{report}")
    assert 0 < weight < PAGE_WEIGHT_LIMIT, report
    assert len(loaded) >= 3  # the page, its stylesheet and htmx, all from 127.0.0.1

    status = api(scenario, "/api/v1/status").json()
    shown = page.locator("[data-status]")
    assert shown.count() >= 12
    for n in range(shown.count()):
        cell = shown.nth(n)
        path = cell.get_attribute("data-status") or ""
        assert int(cell.inner_text()) == dig(status, path), path
    assert status["campaign"]["invoices_issued"] == len(scenario.invoice_ids)
    expect(page.locator("table.slots tbody tr")).to_have_count(4)
    expect(page.locator("[data-funnel=issued]")).to_have_text(str(len(scenario.invoice_ids)))
    shot = screenshot(page, "overview")
    if os.environ.get("STARKRELAY_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, DOCS_SCREENSHOT)  # the README's picture of the console
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "overview-phone")
    # It refreshes by itself: the live part is fetched again within a few seconds.
    with page.expect_response(lambda r: r.url.endswith("/console/live"), timeout=10_000):
        pass
