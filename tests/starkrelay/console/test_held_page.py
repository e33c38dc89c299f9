"""The console's Held page and the outflow controls' JSON API, over HTTP against a real app,
Redis and the emulator: many held forwards approved in one action, one rejected, the pause
switch behind its confirmation, each recorded with the session, in the invoice's story."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
import starkbank
from tests.support.relay_harness import (
    ADMIN_TOKEN,
    Relay,
    credit_invoices,
    enqueue_credited,
    forward_all,
    relay_context,
)

from starkrelay.console.auth import SIGNIN_COOKIE
from starkrelay.forwarding import pause
from starkrelay.ledger import reads

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
NET, FEE = 950, 50


@pytest.fixture
async def relay(redis_url: str, key_prefix: str) -> AsyncIterator[Relay]:
    """The relay's API on a port, a day's budget of two forwards, and five held after a
    burst of seven."""
    with relay_context(
        redis_url, key_prefix,
        sandbox={"initial_balance": 10**9, "pay_share": 0.0, "invoice_fee": FEE},
        forward_daily_limit=2 * NET,
    ) as r:  # fmt: skip
        async with r.services() as s:
            for invoice_id in credit_invoices(r.sb, [NET + FEE] * 7):
                await enqueue_credited(s, invoice_id, NET + FEE)
            await forward_all(r.worker(s), s)
        yield r


async def held_ids(relay: Relay) -> list[str]:
    async with relay.services() as s:
        return [h.invoice_id for h in await reads.list_held(s.store)]


@contextmanager
def signed_in(relay: Relay) -> Iterator[httpx.Client]:
    assert relay.server is not None
    with httpx.Client(base_url=relay.server.url, follow_redirects=False, timeout=10) as client:
        form = client.get("/console/signin").cookies[SIGNIN_COOKIE]
        answer = client.post("/console/signin", data={"token": ADMIN_TOKEN, "form_token": form})
        assert answer.status_code == 303
        yield client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match[1]


async def test_the_held_page_approves_many_in_one_action_and_rejects_one(relay: Relay) -> None:
    held = await held_ids(relay)
    assert len(held) == 5
    with signed_in(relay) as client:
        page = client.get("/console/held")
        assert page.status_code == 200
        for invoice_id in held:
            assert f'data-held="{invoice_id}"' in page.text
            assert f'href="/console/invoices/{invoice_id}"' in page.text
        assert "R$ 9.50" in page.text
        assert "daily limit" in page.text
        csrf = csrf_of(page.text)
        none = client.post("/console/held/decide", data={"csrf": csrf, "decision": "approve"})
        assert none.status_code == 303
        assert "Tick at least one" in client.get("/console/held").text
        form = {"csrf": csrf, "decision": "approve", "invoice_id": held[:3]}  # ticked three
        answer = client.post("/console/held/decide", data=form)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/held")
        page = client.get("/console/held")
        assert page.text.count("approved: queued again as the same attempt") == 3
        again = client.post("/console/held/decide", data=form)
        assert again.status_code == 303  # a second click, or another tab
        assert client.get("/console/held").text.count("no longer held") == 3
        rejected = client.post(
            "/console/held/decide",
            data={"csrf": csrf, "decision": "reject", "invoice_id": held[3]},
        )
        assert rejected.status_code == 303
        assert "rejected: recorded, never sent" in client.get("/console/held").text
        story = client.get(f"/console/invoices/{held[0]}").text
        assert "Held for a person&#39;s approval" in story
        assert re.search(r"Approved by console:[0-9a-f]{12}", story)
        assert "Rejected by console:" in client.get(f"/console/invoices/{held[3]}").text

    async with relay.services() as s:
        await forward_all(relay.worker(s), s)
    sent = {t.external_id for t in starkbank.transfer.query()}
    assert {f"invoice-{i}" for i in held[:3]} <= sent
    assert f"invoice-{held[3]}" not in sent
    assert f"invoice-{held[4]}" not in sent
    assert await held_ids(relay) == [held[4]]


async def test_pausing_from_the_console_needs_the_confirmation_and_is_recorded(
    relay: Relay,
) -> None:
    with signed_in(relay) as client:
        page = client.get("/console/held").text
        assert 'data-paused="no"' in page
        csrf = csrf_of(page)
        unconfirmed = client.post("/console/held/pause", data={"csrf": csrf})
        assert unconfirmed.status_code == 303
        assert "tick the box to confirm" in client.get("/console/held").text
        paused = client.post(
            "/console/held/pause", data={"csrf": csrf, "confirm": "yes", "reason": "audit"}
        )
        assert paused.status_code == 303
        page = client.get("/console/held").text
        assert 'data-paused="yes"' in page
        assert "no transfer is being created" in page
        assert re.search(r"by console:[0-9a-f]{12}: audit", page)
        forged = client.post("/console/held/pause", data={"csrf": "forged", "confirm": "yes"})
        assert forged.status_code == 403
        resumed = client.post("/console/held/resume", data={"csrf": csrf})
        assert resumed.status_code == 303
        assert 'data-paused="no"' in client.get("/console/held").text

    async with relay.services() as s:
        actions = [f"{e['action']} {e['by']}" for e in await pause.pause_log(s.store)]
    assert [a.split()[0] for a in actions] == ["resume", "pause"]
    assert all(a.split()[1].startswith("console:") for a in actions)


async def test_the_api_decides_pauses_and_says_so_in_status_and_metrics(relay: Relay) -> None:
    assert relay.server is not None
    async with httpx.AsyncClient(base_url=relay.server.url, timeout=10) as api:
        assert (await api.get("/api/v1/admin/forwards/held")).status_code == 401
        assert (await api.post("/api/v1/admin/forwards/pause")).status_code == 401
        held = (await api.get("/api/v1/admin/forwards/held", headers=AUTH)).json()
        assert (held["invoices"], held["cents"]) == (5, 5 * NET)
        ids = [row["invoice_id"] for row in held["held"]]
        assert {row["limit"] for row in held["held"]} == {"daily_limit"}
        bad = await api.post(
            "/api/v1/admin/forwards/approve", headers=AUTH, json={"invoice_ids": []}
        )
        assert bad.status_code == 422
        approved = (
            await api.post(
                "/api/v1/admin/forwards/approve", headers=AUTH, json={"invoice_ids": ids[:2]}
            )
        ).json()
        assert [r["outcome"] for r in approved["results"]] == ["approved", "approved"]
        rejected = (
            await api.post(
                "/api/v1/admin/forwards/reject", headers=AUTH, json={"invoice_ids": ids[1:3]}
            )
        ).json()
        assert [r["outcome"] for r in rejected["results"]] == ["not_held", "rejected"]

        paused = await api.post(
            "/api/v1/admin/forwards/pause", headers=AUTH, json={"reason": "drill"}
        )
        assert paused.json() | {"at": None} == {
            "paused_now": True, "paused": True, "at": None, "by": "api:127.0.0.1",
            "reason": "drill", "in_flight_creates": 0, "acknowledged": True,
        }  # fmt: skip
        status = (await api.get("/api/v1/status", headers=AUTH)).json()
        outflow = status["outflow"]
        assert outflow["pause"]["paused"] is True
        assert outflow["limits"]["daily_limit"] == 2 * NET
        assert outflow["today"]["accepted_cents"] == 2 * NET
        assert outflow["held"]["invoices"] == 2
        assert (outflow["held"]["items_approved"], outflow["held"]["items_rejected"]) == (2, 1)
        assert status["invoices_by_stage"]["held"] == 2
        assert status["invoices_by_stage"]["rejected"] == 1
        metrics = (await api.get("/metrics")).text
        assert "starkrelay_forwarding_paused 1.0" in metrics
        assert "starkrelay_forward_held_invoices 2.0" in metrics
        assert f"starkrelay_forward_held_amount_cents {2 * NET}.0" in metrics
        resumed = (await api.post("/api/v1/admin/forwards/resume", headers=AUTH)).json()
        assert (resumed["resumed_now"], resumed["paused"]) == (True, False)
        assert "starkrelay_forwarding_paused 0.0" in (await api.get("/metrics")).text
