"""The invoice story's assembly: order, sources, and what each record becomes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from starkrelay.bank import Invoice, InvoiceLog, Transfer, TransferLog
from starkrelay.console.story import StoryInputs, assemble_story
from starkrelay.forwarding.dead_letters import DeadLetter

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


INVOICE = Invoice(
    id="5001", amount=10_000, nominal_amount=10_000, fee=50, status="paid", name="Ana Souza",
    tax_id="012.345.678-90", tags=("campaign:c1", "campaign:c1:slot:3"), due=at(86400),
    expiration=3600, created=at(0), updated=at(10),
)  # fmt: skip
PAID = replace(INVOICE, amount=9_500, discount_amount=500)


def transfer(transfer_id: str, external_id: str, status: str, created: float) -> Transfer:
    return Transfer(
        id=transfer_id, amount=9_450, name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
        bank_code="20018183", branch_code="0001", account_number="6341320293482496",
        account_type="payment", external_id=external_id, status=status, fee=0,
        tags=("invoice:5001",), created=at(created), updated=at(created),
    )  # fmt: skip


def full_inputs() -> StoryInputs:
    sent = transfer("9001", "invoice-5001", "success", 13)
    return StoryInputs(
        invoice_id="5001",
        invoice=INVOICE,
        invoice_logs=[  # Stark Bank lists logs newest first
            InvoiceLog("l3", "credited", at(10), (), replace(PAID, fee=50)),
            InvoiceLog("l2", "paid", at(10), (), PAID),
            InvoiceLog("l1", "created", at(0), (), INVOICE),
        ],
        transfers=[sent],
        transfer_logs=[
            TransferLog("t3", "success", at(15), (), sent),
            TransferLog("t2", "processing", at(14), (), sent),
            TransferLog("t1", "created", at(13), (), sent),
        ],
        ledger={
            "stage": "success",
            "attempt": "0",
            "amount": "9450",
            "gross_amount": "9500",
            "fee": "50",
            "queued:0": f"{at(11).timestamp()}",
            "entry:0": "1-0",
        },
        deliveries=[
            {
                "event_id": "e1",
                "at": at(11).timestamp(),
                "subscription": "invoice",
                "log_type": "credited",
                "outcome": "enqueued",
                "source": "webhook",
            },
            {
                "event_id": "e1",
                "at": at(12).timestamp(),
                "subscription": "invoice",
                "log_type": "credited",
                "outcome": "duplicate",
                "source": "webhook",
            },
        ],
    )


def test_every_step_in_time_order_with_its_source() -> None:
    story = assemble_story(full_inputs())
    assert [(item.kind, item.source) for item in story.items] == [
        ("issued", "stark_bank"),
        ("paid", "stark_bank"),
        ("credited", "stark_bank"),
        ("webhook", "webhook"),
        ("enqueued", "starkrelay"),
        ("webhook", "webhook"),
        ("transfer", "stark_bank"),
        ("transfer_log", "stark_bank"),
        ("transfer_log", "stark_bank"),
    ]
    titles = [item.title for item in story.items]
    assert titles[0] == "Issued for R$ 100.00 to Ana Souza (campaign slot 3)"
    assert titles[1] == "Paid R$ 95.00 of R$ 100.00 (discount R$ 5.00)"
    assert titles[2] == "Credited R$ 95.00, fee R$ 0.50: R$ 94.50 to forward"
    assert "refused as a duplicate" in titles[5]
    assert story.items[0].details["slot"] == 3
    assert story.items[6].details["external_id"] == "invoice-5001"


def test_summary_counts_deliveries_duplicates_and_money() -> None:
    summary = assemble_story(full_inputs()).summary
    assert summary["stage"] == "success"
    assert (summary["paid_amount"], summary["fee"], summary["net"]) == (9_500, 50, 9_450)
    assert (summary["deliveries"], summary["duplicates_refused"]) == (2, 1)
    assert (summary["transfers"], summary["forwarded"]) == (1, 9_450)


def test_dead_letter_redrive_and_reconciliation_actions_are_told() -> None:
    base = full_inputs()
    ledger = {
        "stage": "queued", "attempt": "0", "amount": "9450", "gross_amount": "9500",
        "fee": "50", "queued:0": str(at(11).timestamp()), "entry:0": "2-0",
        "redriven:0": str(at(30).timestamp()), "requeued:0": str(at(30).timestamp()),
        "queued:1": str(at(40).timestamp()),
        "lost_entry:1": "1-5", "requeued:1": str(at(50).timestamp()),
    }  # fmt: skip
    letter = DeadLetter(
        f"{int(at(20).timestamp() * 1000)}-0",
        {"invoice_id": "5001", "kind": "refused", "reason": "invalidBankCode: bad code"},
    )
    reconciled = {
        "event_id": "e9", "at": at(60).timestamp(), "subscription": "invoice",
        "log_type": "credited", "outcome": "already_enqueued", "source": "reconcile",
    }  # fmt: skip
    inputs = replace(
        base, transfers=[], transfer_logs=[], ledger=ledger, dead_letters=[letter],
        deliveries=[reconciled], entries_in_stream={"2-0"},
    )  # fmt: skip
    story = assemble_story(inputs)
    kinds = [item.kind for item in story.items]
    assert kinds[3:] == ["enqueued", "dead_letter", "redriven", "enqueued", "requeued", "reconcile"]
    by_kind = {item.kind: item for item in story.items}
    assert "waiting in the forward stream" in story.items[3].title
    assert by_kind["dead_letter"].title == "Dead-lettered (refused): invalidBankCode: bad code"
    assert "after the previous attempt failed" in story.items[6].title
    assert by_kind["requeued"].details["lost_entry"] == "1-5"
    assert by_kind["reconcile"].source == "starkrelay"


def test_a_forward_waiting_for_the_balance_says_why() -> None:
    ledger = {
        "stage": "waiting", "attempt": "0", "amount": "9450", "gross_amount": "9500",
        "fee": "50", "queued:0": str(at(11).timestamp()), "stage_at": str(at(12).timestamp()),
        "waiting_reason": "insufficientBalance: the balance is short",
    }  # fmt: skip
    story = assemble_story(replace(full_inputs(), transfers=[], transfer_logs=[], ledger=ledger))
    [waiting] = [item for item in story.items if item.kind == "waiting"]
    assert waiting.title.endswith("insufficientBalance: the balance is short")
    assert waiting.at == at(12)
    assert story.summary["stage"] == "waiting"


def test_steps_without_a_time_come_last_and_an_empty_story_is_empty() -> None:
    undated = replace(INVOICE, created=None)
    story = assemble_story(replace(full_inputs(), invoice=undated))
    assert story.items[-1].kind == "issued"
    assert story.items[-1].at is None
    empty = assemble_story(StoryInputs(invoice_id="404", problems=["Stark Bank could not be read"]))
    assert empty.items == []
    assert empty.problems == ["Stark Bank could not be read"]


def test_story_as_json_keeps_every_item() -> None:
    story = assemble_story(full_inputs())
    data = json.loads(json.dumps(story.as_dict()))
    assert data["invoice_id"] == "5001"
    assert [item["kind"] for item in data["items"]] == [item.kind for item in story.items]
    assert data["items"][0]["at"] == "2026-12-01T12:00:00+00:00"
    assert {item["source"] for item in data["items"]} == {"stark_bank", "webhook", "starkrelay"}


def test_a_re_driven_dead_letter_its_resolved_error_and_the_account_paid() -> None:
    dead_at = int(at(20).timestamp() * 1000)
    ledger = {
        "stage": "success", "attempt": "0", "amount": "9450", "gross_amount": "9500",
        "fee": "50", "queued:0": str(at(11).timestamp()), "entry:0": "2-0",
        "dead_reason": "gave up after 3 deliveries; last error: HTTP 418",
        "last_error": "HTTP 418", "redriven:0": str(at(30).timestamp()),
        "redriven_dead_letter:0": f"{dead_at}-0", "requeued:0": str(at(30).timestamp()),
    }  # fmt: skip
    sent = transfer("9001", "invoice-5001", "success", 31)
    story = assemble_story(
        replace(full_inputs(), ledger=ledger, transfers=[sent], transfer_logs=[],
                destination={"name": "Configured", "account_number": "1"})
    )  # fmt: skip
    kinds = [item.kind for item in story.items]
    assert kinds.index("enqueued") < kinds.index("dead_letter") < kinds.index("redriven")
    assert kinds.index("redriven") < kinds.index("transfer")
    by_kind = {item.kind: item for item in story.items}
    letter = by_kind["dead_letter"]
    assert letter.at == at(20)
    assert letter.title.endswith("(re-driven since)")
    assert letter.details["deliveries"] == 3
    assert by_kind["redriven"].details["dead_letter_id"] == f"{dead_at}-0"
    assert story.summary["last_error"] == "HTTP 418"
    assert story.summary["last_error_resolved"] == "yes"
    assert story.destination["account_number"] == "6341320293482496"
    assert story.destination["source"] == "transfer"
    unsent = assemble_story(replace(full_inputs(), ledger=ledger | {"stage": "queued"},
                                    transfers=[], transfer_logs=[],
                                    destination={"name": "Configured"}))  # fmt: skip
    assert unsent.summary["last_error_resolved"] is None
    assert unsent.destination == {"name": "Configured", "source": "settings"}
