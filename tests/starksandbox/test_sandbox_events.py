"""Events, signed webhook delivery, retries and attempts, through the official SDK."""

from __future__ import annotations

import json

import pytest
import starkbank
from starkbank.error import InputErrors
from webhook_receiver import Receiver

from starksandbox.testing import SandboxHandle, running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}


def _invoice(amount: int = 10_000) -> starkbank.Invoice:
    return starkbank.invoice.create([starkbank.Invoice(amount=amount, **PAYER)])[0]


def test_deliveries_are_signed_and_parse(sandbox: SandboxHandle, receiver: Receiver) -> None:
    starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
    invoice = _invoice()
    deliveries = receiver.wait_for(3)
    for delivery in deliveries:
        assert delivery.content_type == "application/json"
        decoded = json.loads(delivery.body)
        assert delivery.body.decode() == json.dumps(decoded, sort_keys=True)
        assert "isDelivered" not in decoded["event"]
        event = starkbank.event.parse(content=delivery.body.decode(), signature=delivery.signature)
        assert event.subscription == "invoice"
        assert event.log.invoice.id == invoice.id
    types = [json.loads(d.body)["event"]["log"]["type"] for d in deliveries]
    assert sorted(types) == ["created", "credited", "paid"]
    sandbox.wait_until(lambda: all(e.is_delivered for e in starkbank.event.query()))
    assert len(list(starkbank.event.query(is_delivered=False))) == 0


def test_tampered_delivery_fails_parse(sandbox: SandboxHandle, receiver: Receiver) -> None:
    starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
    _invoice()
    delivery = receiver.wait_for(1)[0]
    tampered = delivery.body.decode().replace('"created"', '"paid"', 1)
    with pytest.raises(starkbank.error.InvalidSignatureError):
        starkbank.event.parse(content=tampered, signature=delivery.signature)


def test_no_webhook_means_no_event(sandbox: SandboxHandle) -> None:
    _invoice()
    sandbox.wait_until(lambda: sandbox.summary()["invoices"].get("paid") == 1)
    assert list(starkbank.event.query()) == []


def test_failures_are_attempts_and_retried(receiver: Receiver) -> None:
    receiver.status_for = lambda n: 500 if n < 2 else 200
    with running_sandbox(pay_share=0.0) as sb:
        hook = starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoice()
        receiver.wait_for(3)
        sb.wait_until(lambda: all(e.is_delivered for e in starkbank.event.query()))
        (event,) = starkbank.event.query()
        attempts = list(starkbank.event.attempt.query(event_ids=[event.id]))
        assert [a.code for a in attempts] == ["badHttpStatus", "badHttpStatus"]
        assert attempts[0].message == "HTTP POST request returned status 500"
        assert attempts[0].webhook_id == hook.id
        assert starkbank.event.attempt.get(attempts[0].id).event_id == event.id
        by_hook = list(starkbank.event.attempt.query(webhook_ids=[hook.id]))
        assert [a.id for a in by_hook] == [a.id for a in attempts]


def test_exhausted_retries_leave_event_undelivered(receiver: Receiver) -> None:
    receiver.status_for = lambda _: 404
    with running_sandbox(pay_share=0.0, retry_schedule=(0.01, 0.01)) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoice()
        receiver.wait_for(3)
        sb.drain()
        (event,) = starkbank.event.query(is_delivered=False)
        assert event.is_delivered is False
        assert len(list(starkbank.event.attempt.query(event_ids=[event.id]))) == 3
        updated = starkbank.event.update(event.id, is_delivered=True)
        assert updated.is_delivered is True
        assert list(starkbank.event.query(is_delivered=False)) == []
        assert starkbank.event.get(event.id).is_delivered is True


def test_refused_connection_is_bad_connection() -> None:
    with running_sandbox(pay_share=0.0, retry_schedule=()) as sb:
        starkbank.webhook.create(url="http://127.0.0.1:9/nobody", subscriptions=["invoice"])
        _invoice()
        sb.wait_until(lambda: sb.summary()["attempts"] == 1)
        (attempt,) = starkbank.event.attempt.query()
        assert attempt.code == "badConnection"


def test_slow_receiver_is_timeout(receiver: Receiver) -> None:
    with running_sandbox(pay_share=0.0, retry_schedule=(), delivery_timeout=0.05) as sb:
        import time

        receiver.status_for = lambda _: (time.sleep(0.3), 200)[1]
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoice()
        sb.wait_until(lambda: sb.summary()["attempts"] == 1)
        (attempt,) = starkbank.event.attempt.query()
        assert attempt.code == "timeout"


def test_retry_waits_for_the_clock(receiver: Receiver) -> None:
    receiver.status_for = lambda n: 503 if n == 0 else 200
    with running_sandbox(pay_share=0.0, retry_schedule=(300.0, 1800.0, 7200.0)) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        _invoice()
        receiver.wait_for(1)
        sb.drain()
        assert starkbank.event.query(is_delivered=False)
        sb.advance_clock(299)
        sb.drain()
        assert len(receiver.deliveries) == 1
        sb.advance_clock(1)
        receiver.wait_for(2)
        sb.wait_until(lambda: not list(starkbank.event.query(is_delivered=False)))


def test_event_get_and_delete(sandbox: SandboxHandle, receiver: Receiver) -> None:
    starkbank.webhook.create(url=receiver.url, subscriptions=["invoice", "transfer"])
    _invoice()
    receiver.wait_for(1)
    event = next(iter(starkbank.event.query(limit=1)))
    assert starkbank.event.get(event.id).id == event.id
    assert event.workspace_id
    deleted = starkbank.event.delete(event.id)
    assert deleted.id == event.id
    with pytest.raises(InputErrors) as caught:
        starkbank.event.get(event.id)
    assert caught.value.errors[0].code == "invalidEvent"


def test_event_paging_to_the_end(sandbox: SandboxHandle, receiver: Receiver) -> None:
    starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
    starkbank.invoice.create([starkbank.Invoice(amount=100 + i, **PAYER) for i in range(4)])
    receiver.wait_for(12)
    seen, cursor = [], None
    while True:
        page, cursor = starkbank.event.page(cursor=cursor, limit=5)
        seen.extend(page)
        if cursor is None:
            break
    assert len(seen) == 12
    assert len({e.id for e in seen}) == 12
    created = [e.created for e in seen]
    assert created == sorted(created, reverse=True)


def test_webhook_crud(sandbox: SandboxHandle) -> None:
    hook = starkbank.webhook.create(
        url="http://127.0.0.1:1/a", subscriptions=["transfer", "invoice"]
    )
    assert starkbank.webhook.get(hook.id).url == "http://127.0.0.1:1/a"
    assert [w.id for w in starkbank.webhook.query()] == [hook.id]
    with pytest.raises(InputErrors) as caught:
        starkbank.webhook.create(url="http://127.0.0.1:1/a", subscriptions=["invoice"])
    assert caught.value.errors[0].code == "invalidWebhookUrl"
    with pytest.raises(InputErrors) as caught:
        starkbank.webhook.create(url="ftp://x", subscriptions=["nonsense"])
    assert {e.code for e in caught.value.errors} == {"invalidWebhookUrl", "invalidSubscriptions"}
    starkbank.webhook.delete(hook.id)
    with pytest.raises(InputErrors) as caught:
        starkbank.webhook.get(hook.id)
    assert caught.value.errors[0].code == "invalidWebhookId"
    assert list(starkbank.webhook.query()) == []


def test_transfer_events_parse(receiver: Receiver) -> None:
    with running_sandbox(initial_balance=1_000) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["transfer"])
        (made,) = starkbank.transfer.create(
            [
                starkbank.Transfer(
                    amount=300,
                    name="Stark Bank S.A.",
                    tax_id="20.018.183/0001-80",
                    bank_code="20018183",
                    branch_code="0001",
                    account_number="6341320293482496",
                    account_type="payment",
                    external_id="invoice-1",
                )
            ]
        )
        deliveries = receiver.wait_for(4)
        sb.drain()
        events = [
            starkbank.event.parse(content=d.body.decode(), signature=d.signature)
            for d in deliveries
        ]
        types = ["created", "processing", "sending", "success"]
        assert sorted(e.log.type for e in events) == sorted(types)
        assert {e.log.transfer.id for e in events} == {made.id}
        assert {e.subscription for e in events} == {"transfer"}
        sending = next(e for e in events if e.log.type == "sending")
        assert sending.log.transfer.status == "processing"
