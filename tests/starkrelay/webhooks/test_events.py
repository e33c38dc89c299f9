"""The event parser and the forward-amount rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from starkrelay.ledger.identity import (
    ForwardItem,
    external_id_for,
    forward_amount,
    parse_external_id,
)
from starkrelay.webhooks.events import MalformedEvent, parse_event, parse_webhook_body


def credited(**invoice: Any) -> dict[str, Any]:
    snapshot = {"id": "6404287257116672", "amount": 3669, "fee": 50, "status": "paid"}
    snapshot.update(invoice)
    return {
        "id": "5415223380934656",
        "created": "2020-11-23T23:50:07.123456+00:00",
        "subscription": "invoice",
        "workspaceId": "5078376503050240",
        "log": {
            "id": "5028948064862208",
            "created": "2020-11-23T23:50:06.532772+00:00",
            "type": "credited",
            "errors": [],
            "invoice": snapshot,
        },
    }


def test_credited_invoice_log_is_typed() -> None:
    event = parse_webhook_body(json.dumps({"event": credited()}).encode())
    assert event.is_credited_invoice
    assert event.invoice_log is not None
    assert event.invoice_log.invoice.amount == 3669
    assert event.workspace_id == "5078376503050240"
    assert event.created.tzinfo is not None


@pytest.mark.parametrize(
    ("invoice", "net"),
    [
        # real qodex sample: nominal 4100, discount 431, fee 50
        ({"nominalAmount": 4100, "discountAmount": 431, "amount": 3669, "fee": 50}, 3619),
        # paid late: fine 2% and interest on nominal 10000
        ({"nominalAmount": 10000, "fineAmount": 200, "interestAmount": 33, "amount": 10233}, 10183),
        ({"amount": 12345, "fee": 0}, 12345),
        ({"amount": 50, "fee": 50}, 0),
    ],
)
def test_forward_amount_is_amount_minus_fee(invoice: dict[str, Any], net: int) -> None:
    event = parse_event(credited(**invoice))
    assert event.invoice_log is not None
    assert forward_amount(event.invoice_log.invoice) == net


def test_transfer_log_is_typed() -> None:
    raw = {
        "id": "1",
        "created": "2024-01-01T00:00:00+00:00",
        "subscription": "transfer",
        "log": {
            "id": "2",
            "created": "2024-01-01T00:00:00+00:00",
            "type": "failed",
            "errors": ["invalidbalance"],
            "transfer": {"id": "3", "amount": 10, "externalId": "invoice-9-r1", "tags": []},
        },
    }
    event = parse_event(raw)
    assert event.transfer_log is not None
    assert event.transfer_log.errors == ["invalidbalance"]
    assert parse_external_id(event.transfer_log.transfer.external_id) == ("9", 1)


def test_other_subscriptions_parse_without_a_typed_log() -> None:
    raw = credited()
    raw["subscription"] = "deposit"
    raw["log"] = {"type": "created", "deposit": {}}
    event = parse_event(raw)
    assert event.invoice_log is None
    assert event.transfer_log is None
    assert event.log_type == "created"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event": 1}',
        json.dumps({"event": {**credited(), "id": "../../etc"}}).encode(),
        json.dumps({"event": credited(amount="3669")}).encode(),
        json.dumps({"event": credited(amount=36.69)}).encode(),
        json.dumps({"event": {**credited(), "created": "yesterday"}}).encode(),
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_webhook_body(body)


def test_external_ids_round_trip() -> None:
    assert external_id_for("42") == "invoice-42"
    assert external_id_for("42", 2) == "invoice-42-r2"
    assert parse_external_id("invoice-42") == ("42", 0)
    assert parse_external_id("invoice-42-r2") == ("42", 2)
    assert parse_external_id("someone-else") is None
    item = ForwardItem("42", 950, 1000, 50, attempt=1, source="resend")
    assert ForwardItem.from_fields(item.to_fields()) == item
    assert item.tag == "invoice:42"


@pytest.mark.parametrize(
    "created",
    ["2020-11-23T23:50:07.123456", "2020-11-23", 1606175407, "9999-12-31T23:59:59-14:00", ""],
)
def test_created_must_be_an_aware_date_time_string(created: Any) -> None:
    with pytest.raises(MalformedEvent, match=r"^event field created: "):
        parse_event(credited() | {"created": created})
    log = credited()["log"] | {"created": created}
    with pytest.raises(MalformedEvent, match=r"^event field log\.created: "):
        parse_event(credited() | {"log": log})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subscription", "invoice\ud800"),
        ("subscription", "x" * 5000),
        ("subscription", ""),
        ("workspaceId", "\udfff"),
    ],
)
def test_envelope_strings_must_encode_and_be_short(field: str, value: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(credited() | {field: value})
    message = str(caught.value)
    assert message.startswith(f"event field {field}:")
    message.encode("utf-8")  # the message never carries the unencodable input
    assert value not in message or value == ""


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("type",), "credited\ud800"),
        (("type",), "t" * 65),
        (("invoice", "status"), "\ud800"),
        (("invoice", "tags"), ["ok", "bad\ud800"]),
        (("invoice", "tags"), ["t"] * 101),
        (("invoice", "tags"), ["t" * 257]),
        (("invoice", "amount"), 10**16),
        (("invoice", "amount"), -1),
        (("invoice", "fee"), True),
        (("errors",), ["e"] * 101),
    ],
)
def test_log_fields_are_bounded_and_encodable(path: tuple[str, ...], value: Any) -> None:
    event = credited()
    target = event["log"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(MalformedEvent, match=r"^event field log\." + path[0]):
        parse_event(event)


def test_subscriptions_and_log_types_not_acted_on_are_ignored_under_one_label() -> None:
    other_subscription = parse_event(credited() | {"subscription": "boleto-payment"})
    assert other_subscription.invoice_log is None
    assert other_subscription.transfer_log is None
    assert (other_subscription.metric_subscription, other_subscription.metric_log_type) == (
        "other",
        "other",
    )
    raw = credited()
    raw["log"] = raw["log"] | {"type": "teleported", "invoice": {"anything": "goes"}}
    unknown_type = parse_event(raw)
    assert unknown_type.invoice_log is None
    assert unknown_type.log_type == "teleported"
    assert (unknown_type.metric_subscription, unknown_type.metric_log_type) == ("invoice", "other")
    known = parse_event(credited())
    assert (known.metric_subscription, known.metric_log_type) == ("invoice", "credited")


def test_latest_created_is_the_later_of_event_and_log() -> None:
    raw = credited()
    raw["log"] = raw["log"] | {"created": "2030-01-01T00:00:00+00:00"}
    assert parse_event(raw).latest_created.year == 2030
