"""POST /api/v1/webhooks/starkbank over HTTP: who gets in, what is stored, what is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.support.relay_harness import (
    Relay,
    credit_invoices,
    forward_all,
    forwards_of,
    relay_context,
    stream_length,
)

from starksandbox.keys import Signer, load_private_pem, new_key_pair

pytestmark = pytest.mark.anyio

STARK_KEY, _ = new_key_pair()


@pytest.fixture
def signed_relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    """A relay whose emulator signs with STARK_KEY, so tests can sign their own events (its
    invoice fee, 100, is what ``credited_body`` claims)."""
    with relay_context(
        redis_url,
        key_prefix,
        sandbox={"pay_share": 0.0, "signing_key": STARK_KEY, "invoice_fee": 100},
    ) as relay:
        yield relay


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def credited_body(
    event_id: str, invoice_id: str, *, age: timedelta = timedelta(0), **event: Any
) -> bytes:
    created = stamp(datetime.now(UTC) - age)
    invoice = {"id": invoice_id, "amount": 2000, "fee": 100, "status": "paid", "tags": []}
    document = {
        "event": {
            "id": event_id, "created": created, "subscription": "invoice",
            "log": {"id": "9" + event_id, "created": created, "type": "credited", "errors": [],
                    "invoice": invoice},
        } | event
    }  # fmt: skip
    return json.dumps(document, sort_keys=True).encode()


def sign(body: bytes, key: str = STARK_KEY) -> str:
    return Signer(load_private_pem(key)).sign(body)


def post(relay: Relay, body: bytes, signature: str | None) -> httpx.Response:
    assert relay.server is not None
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["digital-signature"] = signature
    return httpx.post(relay.server.webhook_url, content=body, headers=headers, timeout=10)


def stored_keys(relay: Relay) -> list[str]:
    import redis

    client = redis.Redis.from_url(str(relay.settings.redis_url), decode_responses=True)
    try:
        return sorted(client.scan_iter(f"{relay.settings.redis_key_prefix}:*"))
    finally:
        client.close()


async def test_same_event_twice_in_a_row_forwards_once(signed_relay: Relay) -> None:
    [invoice_id] = credit_invoices(signed_relay.sb, [2000])
    body = credited_body("101", invoice_id)
    first = post(signed_relay, body, sign(body))
    second = post(signed_relay, body, sign(body))
    assert (first.status_code, first.json()["outcome"]) == (200, "enqueued")
    assert (second.status_code, second.json()["outcome"]) == (200, "duplicate")

    async with signed_relay.services() as services:
        assert await stream_length(services) == 1
        await forward_all(signed_relay.worker(services), services)
    [transfer] = forwards_of(invoice_id)
    assert transfer.amount == 1900


async def test_same_event_concurrently_forwards_once(signed_relay: Relay) -> None:
    [invoice_id] = credit_invoices(signed_relay.sb, [2000])
    body = credited_body("102", invoice_id)
    signature = sign(body)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: post(signed_relay, body, signature), range(32)))
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert {a.status_code for a in answers} == {200}
    assert outcomes.count("enqueued") == 1
    assert outcomes.count("duplicate") == 31

    async with signed_relay.services() as services:
        assert await stream_length(services) == 1
        await forward_all(signed_relay.worker(services), services)
    assert len(forwards_of(invoice_id)) == 1


def test_captured_event_replayed_later_does_nothing(signed_relay: Relay) -> None:
    body = credited_body("103", "7003")
    assert post(signed_relay, body, sign(body)).json()["outcome"] == "enqueued"
    # the same bytes, captured and replayed after forwarding happened
    replay = post(signed_relay, body, sign(body))
    assert (replay.status_code, replay.json()["outcome"]) == (200, "duplicate")
    # a captured event older than the replay window is refused outright
    old = credited_body("104", "7004", age=timedelta(hours=2))
    stale = post(signed_relay, old, sign(old))
    assert (stale.status_code, stale.json()["outcome"]) == (400, "stale")
    assert not any(
        key.endswith(":7004") or key.endswith(":104") for key in stored_keys(signed_relay)
    )


def test_forged_content_and_foreign_key_are_refused_with_nothing_stored(
    signed_relay: Relay,
) -> None:
    body = credited_body("105", "7005")
    forged = body.replace(b'"amount": 2000', b'"amount": 9000000')
    assert post(signed_relay, forged, sign(body)).status_code == 401
    other_key, _ = new_key_pair()
    assert post(signed_relay, body, sign(body, other_key)).status_code == 401
    assert post(signed_relay, body, None).status_code == 401
    assert post(signed_relay, body, "bm90IGEgc2lnbmF0dXJl").status_code == 401
    assert stored_keys(signed_relay) == []


def test_oversized_and_malformed_bodies(signed_relay: Relay) -> None:
    big = b'{"event": "' + b"x" * (signed_relay.settings.webhook_max_body_bytes + 1) + b'"}'
    assert post(signed_relay, big, sign(big)).status_code == 413
    for bad in (b"not json", b'{"event": {"id": "1"}}', b"[1, 2]"):
        answer = post(signed_relay, bad, sign(bad))
        assert (answer.status_code, answer.json()["outcome"]) == (400, "malformed")
    assert stored_keys(signed_relay) == []


def test_other_workspace_is_forbidden(redis_url: str, key_prefix: str) -> None:
    with relay_context(
        redis_url, key_prefix, sandbox={"signing_key": STARK_KEY}, stark_workspace_id="1234"
    ) as relay:
        body = credited_body("106", "7006", workspaceId="9999")
        assert post(relay, body, sign(body)).status_code == 403
        mine = credited_body("107", "7007", workspaceId="1234")
        assert post(relay, mine, sign(mine)).status_code == 200


def test_redis_down_answers_503(redis_url: str, key_prefix: str) -> None:
    closed_port = "redis://127.0.0.1:1/0"
    with relay_context(closed_port, key_prefix, sandbox={"signing_key": STARK_KEY}) as relay:
        body = credited_body("108", "7008")
        answer = post(relay, body, sign(body))
        assert (answer.status_code, answer.json()["outcome"]) == (503, "unavailable")


def metric_value(relay: Relay, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    assert relay.server is not None
    text = httpx.get(relay.server.url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@pytest.mark.parametrize(
    "created",
    ["2026-01-01T10:00:00.000000", "2026-01-01", "9999-12-31T23:59:59.000000-14:00"],
)
def test_naive_bare_or_out_of_range_dates_are_400_with_nothing_stored(
    signed_relay: Relay, created: str
) -> None:
    body = credited_body("110", "7010", created=created)
    answer = post(signed_relay, body, sign(body))
    assert (answer.status_code, answer.json()["outcome"]) == (400, "malformed")
    assert "created" in answer.json()["detail"]
    assert stored_keys(signed_relay) == []


def test_lone_surrogate_is_400_and_metrics_still_render(signed_relay: Relay) -> None:
    document = json.loads(credited_body("111", "7011"))
    document["event"]["log"]["type"] = "credited\ud800"
    body = json.dumps(document).encode()
    assert b"\\ud800" in body
    answer = post(signed_relay, body, sign(body))
    assert (answer.status_code, answer.json()["outcome"]) == (400, "malformed")
    assert stored_keys(signed_relay) == []
    assert metric_value(signed_relay, "starkrelay_webhooks_total", outcome="malformed") >= 1


def test_events_dated_in_the_future_beyond_the_skew_are_refused(signed_relay: Relay) -> None:
    skew = signed_relay.settings.webhook_clock_skew_seconds
    future = credited_body("112", "7012", age=-timedelta(seconds=skew + 3600))
    answer = post(signed_relay, future, sign(future))
    assert (answer.status_code, answer.json()["outcome"]) == (400, "future")
    assert stored_keys(signed_relay) == []
    document = json.loads(credited_body("113", "7013"))
    document["event"]["log"]["created"] = stamp(datetime.now(UTC) + timedelta(days=400))
    log_in_future = json.dumps(document).encode()
    answer = post(signed_relay, log_in_future, sign(log_in_future))
    assert (answer.status_code, answer.json()["outcome"]) == (400, "future")
    within = credited_body("114", "7014", age=-timedelta(seconds=skew / 2))
    assert post(signed_relay, within, sign(within)).json()["outcome"] == "enqueued"


def test_subscriptions_we_do_not_act_on_are_ignored_under_one_label(signed_relay: Relay) -> None:
    before = metric_value(signed_relay, "starkrelay_events_total", subscription="other")
    for n, subscription in enumerate(["boleto-payment", "s" * 64, "deposit"]):
        body = credited_body(f"12{n}", f"702{n}", subscription=subscription)
        answer = post(signed_relay, body, sign(body))
        assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    document = json.loads(credited_body("129", "7029"))
    document["event"]["log"]["type"] = "teleported"
    odd_type = json.dumps(document).encode()
    assert post(signed_relay, odd_type, sign(odd_type)).json()["outcome"] == "ignored"
    assert metric_value(signed_relay, "starkrelay_events_total", subscription="other") == before + 3
    assert metric_value(signed_relay, "starkrelay_events_total", log_type="teleported") == 0
    assert not any(":702" in key for key in stored_keys(signed_relay))


def test_client_leaving_mid_body_is_a_warning_not_an_asgi_exception(
    signed_relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    import socket
    from urllib.parse import urlsplit

    assert signed_relay.server is not None
    before = metric_value(signed_relay, "starkrelay_webhooks_total", outcome="disconnected")
    where = urlsplit(signed_relay.server.webhook_url)
    with socket.create_connection((where.hostname, where.port), timeout=5) as raw:
        raw.sendall(
            f"POST {where.path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            'content-length: 5000\r\ndigital-signature: abc\r\n\r\n{"event": '.encode()
        )
    for _ in range(500):
        if metric_value(signed_relay, "starkrelay_webhooks_total", outcome="disconnected") > before:
            break
    else:
        raise AssertionError("the disconnect was never counted")
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
