"""GET /api/v1/status, POST /api/v1/admin/reconcile and the money-path metrics."""

from __future__ import annotations

import httpx
import pytest
from tests.support.relay_harness import (
    ADMIN_TOKEN,
    Relay,
    create_invoice,
    forward_all,
    relay_context,
)

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def test_status_needs_the_admin_token(relay: Relay) -> None:
    assert relay.server is not None
    url = relay.server.url + "/api/v1/status"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer wrong-token-123456"}).status_code == 401
    assert httpx.post(relay.server.url + "/api/v1/admin/reconcile").status_code == 401


def test_admin_endpoints_are_off_without_a_token(redis_url: str, key_prefix: str) -> None:
    with relay_context(redis_url, key_prefix, admin_token=None) as relay:
        assert relay.server is not None
        assert httpx.get(relay.server.url + "/api/v1/status", headers=AUTH).status_code == 404
        answer = httpx.post(relay.server.url + "/api/v1/admin/reconcile", headers=AUTH)
        assert answer.status_code == 404


async def test_status_reconcile_and_metrics_after_a_forward(relay: Relay) -> None:
    assert relay.server is not None
    invoice = create_invoice(6_000)
    relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()
    async with httpx.AsyncClient(base_url=relay.server.url, timeout=30) as api:
        before = (await api.get("/api/v1/status", headers=AUTH)).json()
        assert before["invoices_by_stage"]["queued"] == 1
        assert before["queue"]["lag"] == 1
        assert before["last_reconciliation"] is None

        async with relay.services() as services:
            await forward_all(relay.worker(services), services)
        relay.sb.wait_until(lambda: relay.sb.summary()["transfers"].get("success", 0) == 1)
        relay.sb.drain()
        report = (await api.post("/api/v1/admin/reconcile", headers=AUTH)).json()
        assert report["forwarded"] == 5_950
        assert report["disagreements"] == []

        after = (await api.get("/api/v1/status", headers=AUTH)).json()
        assert after["invoices_by_stage"]["success"] == 1
        assert after["queue"]["depth"] == 0
        assert after["forwarding"]["transfer_calls"] == 1
        assert after["forwarding"]["ownership_calls"] == 1
        assert after["forwarding"]["items_refused"] == 0
        assert after["last_reconciliation"]["forwarded"] == 5_950

        text = (await api.get("/metrics")).text
    assert 'starkrelay_webhooks_total{outcome="enqueued"}' in text
    assert 'starkrelay_events_total{log_type="credited",subscription="invoice"}' in text
    assert "starkrelay_forwarded_cents_total" in text
    assert 'starkrelay_reconcile_report_cents{line="forwarded"} 5950.0' in text
    assert "starkrelay_forward_stream_depth 0.0" in text
