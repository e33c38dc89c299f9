"""Validation per section 8 of the wire notes: one error per problem, nothing created on failure.

Bodies the SDK's own classes would refuse to build go through ``starkbank.request.post``, the
SDK's raw call, which still signs and sends them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import starkbank

from starksandbox.testing import SandboxHandle

GOOD_INVOICE: dict[str, Any] = {"amount": 1000, "taxId": "012.345.678-90", "name": "Ana"}
GOOD_TRANSFER: dict[str, Any] = {
    "amount": 1000,
    "name": "Stark Bank S.A.",
    "taxId": "20.018.183/0001-80",
    "bankCode": "20018183",
    "branchCode": "0001",
    "accountNumber": "6341320293482496",
    "accountType": "payment",
}
TODAY = date.today()
FAR = (TODAY + timedelta(days=10)).isoformat()
NEAR = (TODAY + timedelta(days=1)).isoformat()


def _post(path: str, key: str, items: list[Any]) -> tuple[int, list[str]]:
    response = starkbank.request.post(path=path, body={key: items})
    if response.status == 200:
        return 200, []
    return response.status, [e["code"] for e in response.json()["errors"]]


def _invoice(**changes: Any) -> dict[str, Any]:
    item = {**GOOD_INVOICE, **changes}
    return {k: v for k, v in item.items() if v is not ...}


def _transfer(**changes: Any) -> dict[str, Any]:
    item = {**GOOD_TRANSFER, **changes}
    return {k: v for k, v in item.items() if v is not ...}


INVOICE_CASES = [
    (_invoice(amount=-1), ["invalidAmount"]),
    (_invoice(amount="123"), ["invalidAmount"]),
    (_invoice(amount={}), ["invalidAmount"]),
    (_invoice(amount=1e15), ["invalidAmount"]),
    (_invoice(amount=10**15), ["invalidAmount"]),
    (_invoice(taxId="abc"), ["invalidTaxId"]),
    (_invoice(taxId="000.000.000-00"), ["invalidTaxId"]),
    (_invoice(taxId="00.000.000/0000-00"), ["invalidTaxId"]),
    (_invoice(taxId="012.345.678-91"), ["invalidTaxId"]),
    (_invoice(taxId=1234567890), ["invalidTaxId"]),
    (_invoice(name=""), ["invalidName"]),
    (_invoice(amount=...), ["invalidJson"]),
    (_invoice(taxId=..., name=...), ["invalidJson", "invalidJson"]),
    (_invoice(color="red"), ["invalidJson"]),
    (_invoice(due="tomorrow"), ["invalidDate"]),
    (_invoice(expiration=-1), ["invalidExpiration"]),
    (_invoice(expiration="1h"), ["invalidExpiration"]),
    (_invoice(fine=25), ["invalidFine"]),
    (_invoice(interest=-1), ["invalidInterest"]),
    (_invoice(discounts=[{"percentage": -1, "due": NEAR}]), ["invalidDiscount"]),
    (_invoice(discounts=[{"percentage": 0, "due": NEAR}]), ["invalidDiscount"]),
    (_invoice(discounts=[{"percentage": 110, "due": NEAR}]), ["invalidDiscount"]),
    (_invoice(discounts=[{"percentage": "wrong", "due": NEAR}]), ["invalidDiscount"]),
    (_invoice(discounts=[{"percentage": 5, "due": NEAR, "x": 1}]), ["invalidDiscount"]),
    (_invoice(discounts=[{"percentage": 5, "due": "soon"}]), ["invalidDiscountDate"]),
    (_invoice(discounts=[{"percentage": 5, "due": "2020-01-01"}]), ["invalidDiscountDate"]),
    (_invoice(due=NEAR, discounts=[{"percentage": 5, "due": FAR}]), ["invalidDiscountDate"]),
    (
        _invoice(
            due=FAR, discounts=[{"percentage": 1, "due": NEAR}, {"percentage": 2, "due": FAR}]
        ),
        ["invalidDiscount"],
    ),
    (_invoice(due=FAR, discounts=[{"percentage": 1, "due": NEAR}] * 6), ["invalidDiscount"]),
    (_invoice(descriptions=[1]), ["invalidDescription"]),
    (_invoice(descriptions=[{}]), ["invalidDescription"]),
    (_invoice(descriptions=[{"key": 1}]), ["invalidDescription"]),
    (_invoice(descriptions=[{"key": "a", "value": 1}]), ["invalidDescription"]),
    (_invoice(descriptions=[{"key": "a", "other": "b"}]), ["invalidDescription"]),
    (_invoice(tags="not-a-list"), ["invalidTags"]),
    (_invoice(rules=[{"key": "nope", "value": 1}]), ["invalidRule"]),
    (_invoice(splits=[{"amount": 5000, "receiverId": "1"}]), ["invalidSplit"]),
    ("not an object", ["invalidJson"]),
]


@pytest.mark.parametrize(("item", "codes"), INVOICE_CASES)
def test_invoice_item_errors(sandbox: SandboxHandle, item: Any, codes: list[str]) -> None:
    status, found = _post("/invoice", "invoices", [item])
    assert status == 400
    assert found == codes
    assert list(starkbank.invoice.query()) == []


def test_invoice_accepts_edge_values(sandbox: SandboxHandle) -> None:
    items = [
        _invoice(amount=0),
        _invoice(taxId="01234567890"),
        _invoice(taxId="20018183000180"),
        _invoice(descriptions=[{"key": "a", "value": v} for v in (None, "", 0, [], {})]),
        _invoice(
            due=FAR, discounts=[{"percentage": 100, "due": NEAR}, {"percentage": 5, "due": FAR}]
        ),
        _invoice(due=NEAR),
        _invoice(due=(datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")),
    ]
    assert _post("/invoice", "invoices", items) == (200, [])
    assert len(list(starkbank.invoice.query())) == len(items)


def test_one_error_per_problem_across_the_batch(sandbox: SandboxHandle) -> None:
    items = [
        _invoice(amount=-5),
        GOOD_INVOICE,
        _invoice(taxId="abc", name=""),
        _invoice(due="x"),
        GOOD_INVOICE,
    ]
    status, codes = _post("/invoice", "invoices", items)
    assert status == 400
    assert codes == ["invalidAmount", "invalidTaxId", "invalidName", "invalidDate"]
    assert list(starkbank.invoice.query()) == []


@pytest.mark.parametrize("count", [0, 101, 105])
def test_batch_size_limits(sandbox: SandboxHandle, count: int) -> None:
    status, codes = _post("/invoice", "invoices", [GOOD_INVOICE] * count)
    assert (status, codes) == (400, ["invalidJson"])
    status, codes = _post("/transfer", "transfers", [GOOD_TRANSFER] * count)
    assert (status, codes) == (400, ["invalidJson"])


def test_hundred_is_accepted(sandbox: SandboxHandle) -> None:
    assert _post("/invoice", "invoices", [GOOD_INVOICE] * 100) == (200, [])


def test_sdk_surfaces_input_errors(sandbox: SandboxHandle) -> None:
    with pytest.raises(starkbank.error.InputErrors) as caught:
        starkbank.invoice.create([starkbank.Invoice(amount=-1, tax_id="abc", name="x")])
    assert [e.code for e in caught.value.errors] == ["invalidAmount", "invalidTaxId"]


PAST_DATE = (TODAY - timedelta(days=2)).isoformat()
PAST_TIME = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
TRANSFER_CASES = [
    (_transfer(amount=0), ["invalidAmount"]),
    (_transfer(amount=-1), ["invalidAmount"]),
    (_transfer(amount="10"), ["invalidAmount"]),
    (_transfer(taxId="123"), ["invalidTaxId"]),
    (
        {"accountType": "checking"},
        ["invalidJson"] * 6,
    ),
    (_transfer(name=...), ["invalidJson"]),
    (_transfer(bankCode="12345"), ["invalidBankCode"]),
    (_transfer(branchCode="abc"), ["invalidBranchCode"]),
    (_transfer(accountNumber="x-y"), ["invalidAccountNumber"]),
    (_transfer(accountType="gold"), ["invalidAccountType"]),
    (_transfer(scheduled=PAST_DATE), ["invalidDate"]),
    (_transfer(scheduled=PAST_TIME), ["invalidDateTime"]),
    (_transfer(scheduled="later"), ["invalidDateTime"]),
    (_transfer(externalId="has space"), ["invalidExternalId"]),
    (_transfer(rules=[{"key": "resendingLimit", "value": "x"}]), ["invalidRule"]),
    (_transfer(tags=[1]), ["invalidTags"]),
    (_transfer(colour="red"), ["invalidJson"]),
]


@pytest.mark.parametrize(("item", "codes"), TRANSFER_CASES)
def test_transfer_item_errors(sandbox: SandboxHandle, item: Any, codes: list[str]) -> None:
    status, found = _post("/transfer", "transfers", [item])
    assert status == 400
    assert found == codes
    assert list(starkbank.transfer.query()) == []


def test_transfer_accepts_today_and_now(sandbox: SandboxHandle) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    items = [
        _transfer(externalId="a", scheduled=TODAY.isoformat()),
        _transfer(externalId="b", scheduled=now),
        _transfer(externalId="c", bankCode="341", branchCode="1357-9", accountNumber="876543-2"),
        _transfer(externalId="d", rules=[{"key": "resendingLimit", "value": 5}]),
    ]
    assert _post("/transfer", "transfers", items) == (200, [])


def test_limit_is_checked(sandbox: SandboxHandle) -> None:
    response = starkbank.request.get(path="/invoice", query={"limit": 0})
    assert response.status == 400
    assert response.json()["errors"][0]["code"] == "invalidLimit"
    assert starkbank.request.get(path="/invoice", query={"limit": 500}).status == 200
    bad_cursor = starkbank.request.get(path="/invoice", query={"cursor": "nonsense"})
    assert bad_cursor.json()["errors"][0]["code"] == "invalidCursor"
