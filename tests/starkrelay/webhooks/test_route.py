"""POST /api/v1/webhooks/starkbank over HTTP: who gets in, what is stored, what is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from relay_harness import (
    Relay,
    credit_invoices,
    forward_all,
    forwards_of,
    relay_context,
    stream_length,
)

from starksandbox.keys import Signer, load_private_pem, new_key_pair

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


def test_same_event_twice_in_a_row_forwards_once(signed_relay: Relay) -> None:
    [invoice_id] = credit_invoices(signed_relay.sb, [2000])
    body = credited_body("101", invoice_id)
    first = post(signed_relay, body, sign(body))
    second = post(signed_relay, body, sign(body))
    assert (first.status_code, first.json()["outcome"]) == (200, "enqueued")
    assert (second.status_code, second.json()["outcome"]) == (200, "duplicate")

    async def forward() -> None:
        async with signed_relay.services() as services:
            assert await stream_length(services) == 1
            await forward_all(signed_relay.worker(services), services)

    signed_relay.run(forward)
    [transfer] = forwards_of(invoice_id)
    assert transfer.amount == 1900


def test_same_event_concurrently_forwards_once(signed_relay: Relay) -> None:
    [invoice_id] = credit_invoices(signed_relay.sb, [2000])
    body = credited_body("102", invoice_id)
    signature = sign(body)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: post(signed_relay, body, signature), range(32)))
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert {a.status_code for a in answers} == {200}
    assert outcomes.count("enqueued") == 1
    assert outcomes.count("duplicate") == 31

    async def forward() -> None:
        async with signed_relay.services() as services:
            assert await stream_length(services) == 1
            await forward_all(signed_relay.worker(services), services)

    signed_relay.run(forward)
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
