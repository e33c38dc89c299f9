"""The console in a real Chromium against a real starkrelay (see ``scenario``)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import httpx
import starkbank
from browser_harness import ARTIFACTS, screenshot, sign_in
from browser_scenario import Scenario, wait_until
from playwright.sync_api import BrowserContext, Page, expect

from starkrelay.console.export import TOTALS
from starkrelay.console.render import brl
from starkrelay.ledger.identity import external_id_for

PAGE_WEIGHT_LIMIT = 200_000


def reconcile(scenario: Scenario) -> dict[str, Any]:
    """Run the daily reconciliation now, through the admin API."""
    answer = httpx.post(
        scenario.url + "/api/v1/admin/reconcile", headers=scenario.admin_headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


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
    screenshot(page, "invoice-story-forwarded")
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
    screenshot(page, "money-after-reconcile")


def test_a_refused_forward_is_re_driven_from_the_page_and_paid_once(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    dead = scenario.dead_invoice_id
    reconcile(scenario)  # a fresh daily report: the banner can turn green once this is done
    page.goto("/console/dead-letters")
    row = page.locator(f"tr[data-invoice='{dead}']")
    expect(row).to_contain_text("invalidBankCode")
    banner = page.locator("#needs")
    expect(banner).to_have_class(re.compile(r"\bbad\b"))
    item = banner.locator("li[data-need=dead_letters]")
    expect(item).to_have_attribute("data-count", "1")
    [(_, letter)] = scenario.redis.xrange(scenario.keys.forward_dead_letters())
    expect(item).to_have_attribute("data-cents", letter["amount"])
    expect(item.get_by_role("link", name="Look and re-drive")).to_have_attribute(
        "href", "/console/dead-letters"
    )
    screenshot(page, "dead-letters", docs=True)

    scenario.sb.set_faults(api_throttle_rate=1.0)  # Stark Bank cannot be asked: it fails
    try:
        row.get_by_role("button", name=f"Re-drive invoice {dead}").click()
        failed = page.locator(".flash.error")
        expect(failed).to_contain_text("Re-drive failed: Stark Bank could not be asked")
    finally:
        scenario.sb.set_faults(api_throttle_rate=0.0)
    expect(failed).to_have_attribute("role", "alert")
    assert failed.evaluate("e => getComputedStyle(e).color") == "rgb(180, 35, 24)"  # --bad
    error_background = failed.evaluate("e => getComputedStyle(e).backgroundColor")
    expect(banner.locator("li[data-need=dead_letters]")).to_have_count(1)  # still there
    screenshot(page, "failed-action", docs=True)

    page.locator(f"tr[data-invoice='{dead}']").get_by_role(
        "button", name=f"Re-drive invoice {dead}"
    ).click()
    done = page.locator(".flash.ok")
    expect(done).to_contain_text(f"Invoice {dead}: re-driven")
    assert done.evaluate("e => getComputedStyle(e).backgroundColor") != error_background
    assert done.evaluate("e => getComputedStyle(e).color") != "rgb(180, 35, 24)"
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator(f"tr[data-invoice='{dead}']")).to_have_count(0)
    expect(page.locator("[data-empty]")).to_be_visible()
    expect(banner.locator("li[data-need=dead_letters]")).to_have_count(0)
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
    page.goto("/console")  # nothing needs a person any more: the banner is green
    expect(banner).to_have_attribute("data-needs", "0")
    expect(banner).to_have_class(re.compile(r"\bok\b"))
    expect(banner).to_contain_text("Nothing needs you")
    page.goto(f"/console/invoices/{dead}")  # its story tells the dead letter and the re-drive
    kinds = page.locator("ol.timeline > li").evaluate_all("i => i.map(x => x.dataset.kind)")
    assert kinds.index("dead_letter") < kinds.index("redriven") < kinds.index("transfer")
    expect(page.locator("[data-destination=transfer] [data-account]")).to_have_text(
        "6341320293482496"
    )
    screenshot(page, "invoice-story", docs=True)


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
    screenshot(page, "overview", docs=True)  # the README's picture of the console
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "overview-phone")
    # It refreshes by itself: the live part is fetched again within a few seconds.
    with page.expect_response(lambda r: r.url.endswith("/console/live"), timeout=10_000):
        pass


def rows_of(page: Page, selector: str = "table.invoices tbody tr") -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.locator(selector).evaluate_all(
        "rows => rows.map(r => Object.assign({}, r.dataset))"
    )
    return found


def test_the_invoice_list_pages_newest_first_and_filters(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    newest_first = scenario.redis.zrevrange(scenario.keys.ledger_index(), 0, -1)
    assert len(newest_first) > 5
    page.goto("/console/invoices?limit=5")
    first = [row["invoice"] for row in rows_of(page)]
    assert first == newest_first[:5]
    page.locator("[data-next]").click()
    second = [row["invoice"] for row in rows_of(page)]
    assert second == newest_first[5:10]
    screenshot(page, "invoices-page-2")

    page.goto("/console/invoices")
    page.select_option("#stage", "success")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"stage=success"))
    shown = rows_of(page)
    successes = [
        i for i in newest_first
        if scenario.redis.hget(scenario.keys.webhook_ledger(i), "stage") == "success"
    ]  # fmt: skip
    assert [row["invoice"] for row in shown] == successes
    assert {row["stage"] for row in shown} == {"success"}

    last_slot = max(int(n) for n in scenario.redis.hkeys(_slots_key(scenario)))
    page.goto("/console/invoices")
    page.select_option("#stage", "")
    page.select_option("#slot", str(last_slot))
    page.get_by_role("button", name="Show").click()
    in_slot = {row["invoice"] for row in rows_of(page)}
    outcome = json.loads(scenario.redis.hget(_slots_key(scenario), str(last_slot)) or "{}")
    assert in_slot == set(outcome["invoice_ids"])
    assert set(scenario.unpaid_ids) <= in_slot  # issued, never credited, listed all the same
    for unpaid in scenario.unpaid_ids:
        expect(page.locator(f"tr[data-invoice='{unpaid}']")).to_contain_text("not credited yet")
    page.goto("/console/invoices")
    screenshot(page, "invoices", docs=True)
    page.locator("table.invoices tbody tr").first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/console/invoices/{newest_first[0]}$"))
    expect(page.locator("ol.timeline > li").first).to_be_visible()


def _slots_key(scenario: Scenario) -> str:
    campaign = json.loads(scenario.redis.get(scenario.keys.campaign()) or "{}")
    return scenario.keys.campaign_slots(campaign["id"])


def test_the_balance_card_equals_stark_bank_to_the_cent_after_a_deposit(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    page.goto("/console/money")
    card = page.locator("#balance[data-state=read]")
    expect(card).to_have_attribute("data-cents", str(starkbank.balance.get().amount))
    scenario.sb.deposit(123_45)
    after = starkbank.balance.get().amount

    def read_again() -> bool:
        page.locator("[data-reread]").click()
        expect(page.locator("#balance[data-state=read]")).to_be_visible()
        return page.locator("#balance").get_attribute("data-cents") == str(after)

    wait_until(read_again, 10, "the balance card to show the deposit")
    expect(page.locator("#balance .big")).to_have_text(brl(after))


def test_the_per_invoice_csv_holds_every_credited_invoice(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    reconcile(scenario)  # credits a dropped webhook never brought are in the ledger after it
    credited = {
        entry.invoice.id: entry.invoice
        for entry in starkbank.invoice.log.query(types=["credited"], limit=None)
    }
    assert set(scenario.paid_ids) | {scenario.dead_invoice_id} == set(credited)
    page.goto("/console/invoices")
    with page.expect_download() as caught:
        page.locator("[data-export=csv]").click()
    assert caught.value.suggested_filename.startswith("starkrelay-invoices-")
    text = caught.value.path().read_bytes().decode()
    rows = {row["invoice_id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(credited) <= set(rows)
    for invoice_id, invoice in credited.items():
        row = rows[invoice_id]
        assert (int(row["gross_amount"]), int(row["fee"])) == (invoice.amount, invoice.fee)
        assert int(row["net_amount"]) == invoice.amount - invoice.fee
        [transfer] = starkbank.transfer.query(tags=[f"invoice:{invoice_id}"])
        assert row["transfer_id"] == transfer.id
        assert int(row["forwarded_amount"] or transfer.amount) == transfer.amount


def test_the_money_chart_is_an_svg_with_bars(signed_in: Page, scenario: Scenario) -> None:
    page = signed_in
    reconcile(scenario)
    page.goto("/console/money")
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.bar")
    assert bars.count() >= 2
    assert {bars.nth(n).get_attribute("data-series") for n in range(bars.count())} == {
        "credited", "forwarded"
    }  # fmt: skip
    report = api(scenario, "/api/v1/report.json").json()
    newest = chart.locator("rect.bar.credited").last
    assert newest.get_attribute("data-cents") == str(report["credited"])
    assert float(newest.get_attribute("height") or 0) > 0
    expect(page.locator(".equation[data-ok=true] [data-verdict]")).to_have_text(
        "Every centavo is accounted for."
    )
    screenshot(page, "money", docs=True, docs_height=4000)  # the chart is below the report


def test_deliveries_and_operator_actions_open_the_invoices(
    signed_in: Page, scenario: Scenario
) -> None:
    page = signed_in
    page.goto("/console/deliveries")
    shown = rows_of(page, "table.deliveries tbody tr")
    assert len(shown) > 5
    assert {"enqueued", "duplicate"} <= {row["outcome"] for row in shown}
    screenshot(page, "deliveries", docs=True)
    first = page.locator("table.deliveries tbody tr").first
    invoice_id = first.get_attribute("data-invoice")
    first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/console/invoices/{invoice_id}$"))
    page.goto("/console/actions")
    actions = rows_of(page, "table.audit tbody tr")
    assert {"signin"} <= {row["action"] for row in actions}
    expect(page.locator("table.audit")).to_contain_text("127.0.0.1")
    screenshot(page, "actions", docs=True)


def test_every_page_is_light(context: BrowserContext, scenario: Scenario) -> None:
    page = context.new_page()
    sign_in(page)
    page.wait_for_url("**/console")
    sizes = {}
    for path in ("/console", "/console/invoices", "/console/deliveries", "/console/dead-letters",
                 "/console/money", "/console/actions",
                 f"/console/invoices/{scenario.paid_ids[0]}"):  # fmt: skip
        response = page.request.get(scenario.url + path)
        assert response.status == 200, path
        sizes[path] = len(response.body())
    report = "\n".join(f"{size:>8} {path}" for path, size in sizes.items())
    (ARTIFACTS / "page-sizes.txt").write_text(report + "\n")
    print(f"\nHTML bytes per page:\n{report}")
    assert max(sizes.values()) < PAGE_WEIGHT_LIMIT, report
