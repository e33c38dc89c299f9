"""Transfers and transfer logs through the official SDK."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import starkbank
from starkbank.error import InputErrors

from starksandbox.testing import SandboxHandle, running_sandbox

DESTINATION = {
    "name": "Stark Bank S.A.",
    "tax_id": "20.018.183/0001-80",
    "bank_code": "20018183",
    "branch_code": "0001",
    "account_number": "6341320293482496",
    "account_type": "payment",
}


def _transfer(amount: int, external_id: str, **extra: object) -> starkbank.Transfer:
    return starkbank.Transfer(amount=amount, external_id=external_id, **DESTINATION, **extra)


def test_transfer_succeeds_and_debits_balance() -> None:
    with running_sandbox(initial_balance=10_000, transfer_fee=100) as sb:
        (made,) = starkbank.transfer.create([_transfer(1_000, "invoice-1", tags=["Invoice:1"])])
        assert made.status == "created"
        assert made.fee == 100
        assert made.tags == ["invoice:1"]
        assert made.rules == []
        assert made.external_id == "invoice-1"
        sb.wait_until(lambda: starkbank.transfer.get(made.id).status == "success")
        assert starkbank.balance.get().amount == 10_000 - 1_100
        done = starkbank.transfer.get(made.id)
        assert len(done.transaction_ids) == 1
        logs = list(starkbank.transfer.log.query(transfer_ids=[made.id]))
        assert [log.type for log in logs] == ["success", "sending", "processing", "created"]
        assert starkbank.transfer.log.get(logs[0].id).transfer.status == "success"
        (sending,) = starkbank.transfer.log.query(types=["sending"], transfer_ids=[made.id])
        assert sending.id == logs[1].id
        assert sending.transfer.status == "processing"
        assert sending.errors == []
        pdf = starkbank.transfer.pdf(made.id)
        assert pdf.startswith(b"%PDF-")


def test_insufficient_balance_fails_with_invalidbalance() -> None:
    with running_sandbox(initial_balance=500) as sb:
        (made,) = starkbank.transfer.create([_transfer(1_000, "too-much")])
        sb.wait_until(lambda: starkbank.transfer.get(made.id).status == "failed")
        (failed,) = starkbank.transfer.log.query(types=["failed"])
        assert failed.errors == ["invalidbalance"]
        assert starkbank.balance.get().amount == 500
        with pytest.raises(InputErrors) as caught:
            starkbank.transfer.pdf(made.id)
        assert caught.value.errors[0].code == "invalidTransfer"


def test_duplicate_external_id_is_refused(sandbox: SandboxHandle) -> None:
    starkbank.transfer.create([_transfer(100, "same")])
    with pytest.raises(InputErrors) as caught:
        starkbank.transfer.create([_transfer(100, "same"), _transfer(100, "other")])
    assert [e.code for e in caught.value.errors] == ["invalidExternalId"]
    assert len(list(starkbank.transfer.query())) == 1
    with pytest.raises(InputErrors) as caught:
        starkbank.transfer.create([_transfer(100, "twin"), _transfer(100, "twin")])
    assert [e.code for e in caught.value.errors] == ["invalidExternalId"]


def test_default_external_id_blocks_same_day_repeat(sandbox: SandboxHandle) -> None:
    plain = starkbank.Transfer(amount=700, **DESTINATION)
    (made,) = starkbank.transfer.create([plain])
    assert made.external_id
    with pytest.raises(InputErrors) as caught:
        starkbank.transfer.create([starkbank.Transfer(amount=700, **DESTINATION)])
    assert caught.value.errors[0].code == "invalidExternalId"


def test_scheduled_transfer_waits_and_can_be_deleted() -> None:
    with running_sandbox(initial_balance=10_000) as sb:
        tomorrow = date.today() + timedelta(days=2)
        first, second = starkbank.transfer.create(
            [
                _transfer(100, "later-1", scheduled=tomorrow),
                _transfer(100, "later-2", scheduled=tomorrow),
            ]
        )
        assert first.status == "created"
        deleted = starkbank.transfer.delete(first.id)
        assert deleted.status == "canceled"
        with pytest.raises(InputErrors) as caught:
            starkbank.transfer.delete(first.id)
        assert caught.value.errors[0].code == "invalidTransfer"
        sb.advance_clock(3 * 86400)
        sb.wait_until(lambda: starkbank.transfer.get(second.id).status == "success")
        assert starkbank.transfer.get(first.id).status == "canceled"
        assert [log.type for log in starkbank.transfer.log.query(transfer_ids=[first.id])] == [
            "canceled",
            "created",
        ]


def test_query_filters_and_sort() -> None:
    with running_sandbox(initial_balance=0, transfer_processing_delay=3600) as sb:
        made = starkbank.transfer.create(
            [_transfer(100 + i, f"q-{i}", tags=["a" if i < 2 else "b"]) for i in range(5)]
        )
        assert [t.id for t in starkbank.transfer.query()] == [t.id for t in reversed(made)]
        assert [t.id for t in starkbank.transfer.query(sort="created")] == [t.id for t in made]
        assert len(list(starkbank.transfer.query(tags=["a"]))) == 2
        assert len(list(starkbank.transfer.query(tax_id="20.018.183/0001-80"))) == 5
        assert len(list(starkbank.transfer.query(tax_id="11.222.333/0001-81"))) == 0
        assert [t.id for t in starkbank.transfer.query(ids=[made[2].id])] == [made[2].id]
        assert len(list(starkbank.transfer.query(status="created"))) == 5
        sb.advance_clock(3600)
        sb.wait_until(lambda: len(list(starkbank.transfer.query(status="failed"))) == 5)
        failed = list(starkbank.transfer.query(status="failed", limit=2))
        assert len(failed) == 2
        with pytest.raises(InputErrors) as caught:
            list(starkbank.transfer.query(sort="sideways"))
        assert caught.value.errors[0].code == "invalidSort"


def test_transaction_ids_filter() -> None:
    with running_sandbox(initial_balance=10_000) as sb:
        (made,) = starkbank.transfer.create([_transfer(100, "tx")])
        sb.wait_until(lambda: starkbank.transfer.get(made.id).status == "success")
        transaction_id = starkbank.transfer.get(made.id).transaction_ids[0]
        assert [t.id for t in starkbank.transfer.query(transaction_ids=[transaction_id])] == [
            made.id
        ]


def test_unknown_transfer_and_log(sandbox: SandboxHandle) -> None:
    with pytest.raises(InputErrors) as caught:
        starkbank.transfer.get("0")
    assert caught.value.errors[0].code == "invalidTransfer"
    with pytest.raises(InputErrors) as caught:
        starkbank.transfer.log.get("0")
    assert caught.value.errors[0].code == "invalidTransferLog"
    with pytest.raises(InputErrors) as caught:
        list(starkbank.transfer.log.query(types=["random"]))
    assert caught.value.errors[0].code == "invalidTransferLog"


def test_sending_comes_half_way_from_processing_to_success() -> None:
    with running_sandbox(initial_balance=10_000, transfer_processing_delay=3600) as sb:
        (made,) = starkbank.transfer.create([_transfer(100, "halves")])

        def types() -> list[str]:
            return [log.type for log in starkbank.transfer.log.query(transfer_ids=[made.id])]

        sb.advance_clock(3600)
        assert types() == ["processing", "created"]
        sb.advance_clock(1800)
        assert types() == ["sending", "processing", "created"]
        assert starkbank.transfer.get(made.id).status == "processing"
        assert starkbank.balance.get().amount == 10_000 - 100
        sb.advance_clock(1800)
        assert types() == ["success", "sending", "processing", "created"]
