"""judge_ownership: Stark Bank's credited record decides what a forward pays (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime

from starkrelay.bank import Invoice, InvoiceLog
from starkrelay.forwarding.ownership import REFUSAL_REASONS, Decision, judge_ownership
from starkrelay.ledger.identity import ForwardItem


def credited(
    invoice_id: str, amount: int, fee: int, log_id: str = "", kind: str = "credited"
) -> InvoiceLog:
    invoice = Invoice(
        id=invoice_id, amount=amount, nominal_amount=amount, fee=fee, status="paid", name="Ana",
        tax_id="012.345.678-90", tags=(), due=None, expiration=None, created=None, updated=None,
    )  # fmt: skip
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return InvoiceLog(
        id=log_id or f"l{invoice_id}", type=kind, created=when, errors=(), invoice=invoice
    )


def claim(invoice_id: str, gross: int, fee: int, attempt: int = 0) -> ForwardItem:
    return ForwardItem(invoice_id, gross - fee, gross, fee, attempt)


def test_unknown_or_uncredited_invoice_is_refused() -> None:
    [verdict] = judge_ownership([claim("9", 77_727, 0)], [credited("8", 1_000, 50)])
    assert verdict.decision is Decision.REFUSE
    assert verdict.reason in REFUSAL_REASONS
    assert verdict.credit is None
    assert not verdict.mismatch
    assert verdict.item == verdict.claimed


def test_record_amount_is_forwarded_whatever_the_claim() -> None:
    [verdict] = judge_ownership([claim("1", 99_999, 0, attempt=2)], [credited("1", 1_000, 50)])
    assert verdict.decision is Decision.FORWARD
    assert (verdict.item.amount, verdict.item.gross_amount, verdict.item.fee) == (950, 1_000, 50)
    assert verdict.item.attempt == 2  # the attempt (and so the external_id) is the entry's
    assert verdict.mismatch
    assert verdict.claimed.amount == 99_999


def test_matching_claim_is_no_mismatch() -> None:
    [verdict] = judge_ownership([claim("1", 1_000, 50)], [credited("1", 1_000, 50)])
    assert (verdict.decision, verdict.mismatch) == (Decision.FORWARD, False)


def test_a_lower_fee_claim_is_a_mismatch_even_when_net_agrees() -> None:
    [verdict] = judge_ownership([claim("1", 950, 0)], [credited("1", 1_000, 50)])
    assert verdict.item.amount == verdict.claimed.amount == 950
    assert verdict.mismatch


def test_non_positive_record_is_skipped() -> None:
    [verdict] = judge_ownership([claim("1", 1_000, 50)], [credited("1", 50, 50)])
    assert verdict.decision is Decision.SKIP
    assert verdict.item.amount == 0


def test_newest_credited_log_wins_and_other_types_are_ignored() -> None:
    logs = [
        credited("1", 1, 0, log_id="update", kind="updated"),
        credited("1", 1_000, 50, log_id="newest"),
        credited("1", 2_000, 50, log_id="older"),
    ]
    [verdict] = judge_ownership([claim("1", 1_000, 50)], logs)
    assert verdict.credit is not None
    assert verdict.credit.log_id == "newest"
    assert verdict.item.amount == 950


def test_reversals_leave_what_we_still_hold_and_the_newest_carries_it() -> None:
    """A reversed log's invoice carries the amount left after that reversal; logs come newest
    first, so the first one met is what is left now."""
    partly = [
        credited("1", 600, 0, log_id="second reversal", kind="reversed"),
        credited("1", 800, 0, log_id="first reversal", kind="reversed"),
        credited("1", 1_000, 50, log_id="credit"),
    ]
    fully = [credited("2", 0, 0, kind="reversed"), credited("2", 1_000, 50)]
    eaten = [credited("3", 40, 0, kind="reversed"), credited("3", 1_000, 50)]
    items = [claim("1", 1_000, 50), claim("2", 1_000, 50), claim("3", 1_000, 50)]
    sent, nothing, fee_left = judge_ownership(items, partly + fully + eaten)
    assert (sent.decision, sent.item.amount, sent.item.gross_amount) == (
        Decision.FORWARD, 550, 1_000,
    )  # fmt: skip
    assert sent.credit is not None
    assert sent.credit.reversed == 400
    assert (nothing.decision, nothing.detail) == (
        Decision.SKIP, "reversed 1000 of 1000: nothing left to forward",
    )  # fmt: skip
    assert (fee_left.decision, fee_left.item.amount) == (Decision.SKIP, -10)


def test_a_batch_keeps_its_order() -> None:
    items = [claim("1", 1_000, 50), claim("2", 1_000, 50), claim("3", 3_000, 50)]
    verdicts = judge_ownership(items, [credited("3", 3_000, 50), credited("1", 1_000, 50)])
    assert [v.decision for v in verdicts] == [Decision.FORWARD, Decision.REFUSE, Decision.FORWARD]
    assert [v.item.invoice_id for v in verdicts] == ["1", "2", "3"]
