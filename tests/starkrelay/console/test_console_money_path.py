"""The console's pages over a real money path: the emulator through the SDK, the relay's API
on a real port taking the webhooks, a forwarding worker in the test, real Redis.

Lists, exports, the balance and the money page tie to what Stark Bank holds; a dead letter
shows in the banner until its re-drive, a failed re-drive shows as an error, and the story
tells the dead letter, the re-drive, the resolved error and the account paid; every action is
in the audit list; a console whose Redis does not answer says so."""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import starkbank
from tests.support.relay_harness import (
    ADMIN_TOKEN,
    Relay,
    RelayServer,
    create_invoice,
    forward_all,
    forwards_of,
    relay_context,
    wait_for,
)

from starkrelay.console.render import SAO_PAULO
from starkrelay.core.settings import Settings

pytestmark = pytest.mark.anyio

REFUSED_BANK_CODE = "2001818"  # one digit short: Stark Bank refuses it


@contextmanager
def signed_in(server: RelayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as client:
        form = client.get("/console/signin").cookies["starkrelay_console_signin"]
        answer = client.post(
            "/console/signin", data={"token": ADMIN_TOKEN, "form_token": form, "next": "/console"}
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match[1]


def needs(html: str) -> dict[str, dict[str, str]]:
    """The banner's items: key -> its data attributes."""
    found: dict[str, dict[str, str]] = {}
    for attributes in re.findall(r'<li class="need [^"]+" ([^>]*)>', html):
        data = dict(re.findall(r'data-([a-z]+)="([^"]*)"', attributes))
        found[data.pop("need")] = data
    return found


def admin_api(server: RelayServer) -> httpx.AsyncClient:
    """The relay's admin API, signed with the token (the API's calls may take a while)."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.AsyncClient(base_url=server.url, headers=auth, timeout=20)


async def paid_and_forwarded(relay: Relay, amounts: list[int], unpaid: int = 1) -> list[Any]:
    invoices = [create_invoice(amount) for amount in [*amounts, *[1_000] * unpaid]]
    for invoice in invoices[: len(amounts)]:
        relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()

    async with relay.services() as services:
        await forward_all(relay.worker(services), services)
    for invoice in invoices[: len(amounts)]:
        wait_for(lambda i=invoice: [t.status for t in forwards_of(i.id)] == ["success"])
    relay.sb.drain()  # the transfers' events reach the ledger
    return invoices


async def test_lists_exports_balance_and_report_tie_to_stark_bank(relay: Relay) -> None:
    assert relay.server is not None
    invoices = await paid_and_forwarded(relay, [10_000, 7_000])
    paid = {i.id for i in invoices[:2]}
    transfers = {i.id: forwards_of(i.id)[0] for i in invoices[:2]}
    with signed_in(relay.server) as client:
        listed = client.get("/console/invoices").text
        rows = re.findall(r'<tr data-invoice="([^"]+)" data-stage="([^"]*)">', listed)
        assert set(rows) == {(i, "success") for i in paid}  # the unpaid one is not in the ledger
        for invoice_id, transfer in transfers.items():
            assert f"/console/invoices/{invoice_id}" in listed
            assert transfer.id in listed
        first = client.get("/console/invoices?stage=success&limit=1").text
        [(newest, _)] = re.findall(r'<tr data-invoice="([^"]+)" data-stage="([^"]*)">', first)
        older = re.search(r'href="(/console/invoices\?[^"]+)" rel="next"', first)
        assert older is not None
        second = client.get(older[1].replace("&amp;", "&")).text
        [(other, _)] = re.findall(r'<tr data-invoice="([^"]+)" data-stage="([^"]*)">', second)
        assert {newest, other} == paid
        assert 'rel="next"' not in second
        assert "not credited yet" not in listed

        deliveries = client.get("/console/deliveries").text
        outcomes = set(re.findall(r'data-invoice="([^"]+)" data-outcome="([^"]+)"', deliveries))
        for invoice_id in paid:
            assert (invoice_id, "enqueued") in outcomes

        today = datetime.now(SAO_PAULO).date().isoformat()
        exported = client.get(f"/console/invoices.csv?start={today}&end={today}")
        assert exported.headers["content-type"].startswith("text/csv")
        assert f"starkrelay-invoices-{today}-{today}.csv" in exported.headers["content-disposition"]
        by_id = {row["invoice_id"]: row for row in csv.DictReader(io.StringIO(exported.text))}
        assert set(by_id) == paid
        for invoice_id, transfer in transfers.items():
            row = by_id[invoice_id]
            assert int(row["gross_amount"]) - int(row["fee"]) == transfer.amount
            assert int(row["net_amount"]) == int(row["forwarded_amount"]) == transfer.amount
            assert (row["transfer_id"], row["transfer_status"]) == (transfer.id, "success")
            assert (row["stage"], row["reversed_amount"]) == ("success", "0")
        as_json = client.get(f"/console/invoices.json?start={today}&end={today}").json()
        assert {r["invoice_id"] for r in as_json["invoices"]} == paid
        async with admin_api(relay.server) as api:
            assert (await api.get("/api/v1/invoices.csv")).text == exported.text
        refused = client.get("/console/invoices.csv?start=2020-01-01&end=2020-12-31")
        assert refused.status_code == 400
        assert "at most 92 days" in refused.text

        def balance_shown(fresh: str = "") -> int:
            card = client.get(f"/console/money/balance{fresh}").text
            match = re.search(r'data-cents="(-?\d+)"', card)
            assert match, card
            return int(match[1])

        assert balance_shown() == starkbank.balance.get().amount
        relay.sb.deposit(12_345)
        wait_for(
            lambda: balance_shown("?fresh=1") == starkbank.balance.get().amount,
            what="the balance read again",
        )

        async with admin_api(relay.server) as api:
            assert (await api.post("/api/v1/admin/reconcile")).status_code == 200
        money = client.get("/console/money").text
        assert 'data-ok="true"' in money
        assert "Every centavo is accounted for." in money
        assert 'data-term="forwarded"' in money
        assert re.search(r'<svg class="chart"[^>]* data-bars="2"', money)
        assert len(re.findall(r'<rect class="bar (credited|forwarded)"', money)) == 2
        assert needs(client.get("/console").text) == {}  # nothing needs a person
        assert "Nothing needs you" in client.get("/console/needs-action").text


@pytest.fixture
def refusing(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """A relay whose destination Stark Bank refuses (invoices paid only on demand)."""
    with relay_context(
        redis_url, key_prefix, sandbox={"pay_share": 0.0}, destination_bank_code=REFUSED_BANK_CODE
    ) as r:
        r.register_webhook()
        yield r


async def test_a_dead_letter_until_its_re_drive_and_the_story_tells_all_of_it(
    refusing: Relay,
) -> None:
    relay = refusing
    assert relay.server is not None
    invoice = create_invoice(5_000)
    relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()

    async with relay.services() as services:
        await forward_all(relay.worker(services), services)
    with signed_in(relay.server) as client:
        overview = client.get("/console").text
        dead = needs(overview)["dead_letters"]
        assert (dead["count"], dead["cents"]) == ("1", "4950")
        letter = re.search(r'data-dead-letter="([^"]+)"', client.get("/console/dead-letters").text)
        assert letter is not None

        relay.sb.set_faults(api_throttle_rate=1.0)  # Stark Bank cannot be asked
        try:
            answer = client.post(
                "/console/dead-letters/redrive",
                data={"csrf": csrf_of(overview), "dead_letter_id": letter[1]},
            )
            assert answer.status_code == 303
            failed = client.get("/console/dead-letters").text
        finally:
            relay.sb.set_faults(api_throttle_rate=0.0)
        assert re.search(r'<p class="flash error" role="alert" data-level="error">', failed)
        assert "Re-drive failed: Stark Bank could not be asked" in failed
        assert {"dead_letters", "stark_bank"} <= set(needs(failed))
        assert "No dead letters" not in client.get("/console/dead-letters").text  # shown once

        answer = client.post(
            "/console/dead-letters/redrive",
            data={"csrf": csrf_of(overview), "dead_letter_id": letter[1]},
        )
        done = client.get("/console/dead-letters").text
        assert re.search(r'<p class="flash ok" role="status" data-level="ok">Invoice ', done)
        assert "dead_letters" not in needs(done)

        fixed = Relay(
            relay.sb, relay.settings.model_copy(update={"destination_bank_code": "20018183"}), None
        )

        async with fixed.services() as services:
            await forward_all(fixed.worker(services), services)
        wait_for(lambda: [t.status for t in forwards_of(invoice.id)] == ["success"])
        relay.sb.drain()
        story = client.get(f"/console/invoices/{invoice.id}").text
        kinds = re.findall(r'<li data-kind="([a-z_]+)"', story)
        assert kinds.index("dead_letter") < kinds.index("redriven") < kinds.index("transfer")
        assert "Dead-lettered: " in story
        assert "invalidBankCode" in story
        assert 'data-last-error="resolved"' in story
        assert 'data-destination="transfer"' in story
        assert "<code data-account>6341320293482496</code>" in story

        audit = client.get("/console/actions").text
        actions = re.findall(r'<tr data-action="([a-z_]+)" data-outcome="([a-z]+)">', audit)
        assert actions == [("redrive", "done"), ("redrive", "failed"), ("signin", "done")]
        assert "127.0.0.1" in audit
        assert "(you)" in audit
        assert f'href="/console/invoices/{invoice.id}"' in audit


def test_a_console_whose_redis_does_not_answer_says_so(
    relay_settings: Any, key_prefix: str
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        settings: Settings = relay_settings(admin_token=ADMIN_TOKEN, redis_url=url)
        with RelayServer(settings) as server, httpx.Client(base_url=server.url) as client:
            client.cookies.set("starkrelay_console", "a-session-cookie")
            page = client.get("/console")
            assert page.status_code == 503
            assert "Redis does not answer" in page.text
            assert 'data-need="redis"' in page.text
            fragment = client.get("/console/live", headers={"HX-Request": "true"})
            assert fragment.status_code == 503
            assert fragment.headers["hx-retarget"] == "#needs"
            assert fragment.text.lstrip().startswith('<section id="needs"')
            assert 'hx-get="/console/needs-action"' in fragment.text  # it asks again


def test_foreign_events_until_acknowledged(relay: Relay) -> None:
    assert relay.server is not None
    stranger = starkbank.Transfer(
        amount=100, name="Stark Bank S.A.", tax_id="20.018.183/0001-80", bank_code="20018183",
        branch_code="0001", account_number="6341320293482496", account_type="payment",
        external_id="invoice-1234567890", tags=["invoice:1234567890"],
    )  # fmt: skip
    starkbank.transfer.create([stranger])  # an invoice we never forwarded: its events are foreign
    relay.sb.drain()
    with signed_in(relay.server) as client:
        overview = client.get("/console").text
        foreign = needs(overview)["foreign_events"]
        assert int(foreign["count"]) >= 1
        assert 'action="/console/acknowledge"' in overview
        answer = client.post(
            "/console/acknowledge", data={"csrf": csrf_of(overview), "next": "/console/money"}
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/money")
        money = client.get("/console/money").text
        assert "Acknowledged 0 refused forward(s) and" in money
        assert "foreign_events" not in needs(money)
        audit = client.get("/console/actions").text
        assert '<tr data-action="acknowledge" data-outcome="done">' in audit
