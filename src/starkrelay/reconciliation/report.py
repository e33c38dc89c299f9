"""The money report: what Stark Bank credited against what we forwarded, invoice by invoice.

Built from Stark Bank's records (credited logs and forward transfers) plus our ledger (queued,
waiting for balance, held for approval, rejected, dead-lettered, skipped). All amounts are
cents. An invoice "disagrees" when its numbers do not add up: more than one successful
forward, a successful forward of the wrong amount, or a credit with no transfer and no record
of why.

An invoice with ANY ``success`` transfer is settled (``forwarded``), whatever else the listing
holds for it (failed attempts, or a failed transfer listed after the success under the same
``external_id``). Unexplained outflow (``outflow``) is reported apart from the invoices: money
that left for the destination and that no credited invoice of ours explains.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

from starkrelay.bank import Transfer
from starkrelay.core.store import Store
from starkrelay.ledger.identity import parse_external_id

_PENDING_STATUSES = {"created", "processing"}
_FAILED_STATUSES = {"failed", "canceled"}


@dataclass(frozen=True)
class CreditedInvoice:
    invoice_id: str
    gross_amount: int
    fee: int
    reversed: int = 0
    """Cents given back to the payer since the credit (its ``reversed`` logs)."""

    @property
    def net(self) -> int:
        """What our workspace still holds for the invoice, less the fee: what to forward."""
        return self.gross_amount - self.reversed - self.fee

    @property
    def credited_net(self) -> int:
        """What the credit alone left to forward (``amount - fee``), before any reversal."""
        return self.gross_amount - self.fee


@dataclass
class MoneyReport:
    since: str
    generated_at: str
    invoices: int = 0
    credited: int = 0
    fees: int = 0
    net: int = 0
    forwarded: int = 0
    in_flight: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    events_marked_delivered: int = 0
    events_refused: list[dict[str, str]] = field(default_factory=list)
    """Undelivered events the sweep could not take (id, reason); left undelivered."""
    enqueued_missing: int = 0
    resent: int = 0
    lost_requeued: int = 0
    """Queued entries Redis lost (stream entry gone, nothing at Stark Bank) re-enqueued."""
    refused_reopened: int = 0
    """Invoices the worker's ownership read refused while our own credited logs list them:
    re-enqueued as the same attempt (a ``ledger.move`` resting on ``credited_listing``)."""
    waiting: int = 0
    """Net of forwards waiting for the balance to cover them (ledger stage ``waiting``)."""
    parked_for_balance: int = 0
    """Failed forwards this run found failed for lack of balance and set waiting."""
    held: int = 0
    """Net of forwards held for a person's approval (over a limit; ledger stage ``held``)."""
    rejected: int = 0
    """Net of held forwards a person rejected: never sent (ledger stage ``rejected``)."""
    disagreements: list[dict[str, str | int]] = field(default_factory=list)
    unexplained_outflow: int = 0
    """Cents that left for the destination and that no credited invoice of ours explains."""
    unexplained: list[dict[str, str | int]] = field(default_factory=list)
    """One row per unexplained transfer (``outflow.Outflow``): id, amount, reason..."""
    reversed: int = 0
    """Cents given back to payers by reversals of these invoices (before or after forward)."""
    reversed_after_forward: int = 0
    """Cents forwarded above what we still hold, because a reversal landed after the forward:
    money to recover from the destination."""
    reversals: list[dict[str, str | int]] = field(default_factory=list)
    """One row per invoice reversed after its forward: invoice, forwarded, held, to recover."""
    foreign_events: int = 0
    """Signed transfer events about transfers our workspace does not hold, counted since this
    Redis began (they moved nothing)."""

    LINES = (
        "credited",
        "fees",
        "net",
        "forwarded",
        "in_flight",
        "waiting",
        "held",
        "rejected",
        "failed",
        "dead_lettered",
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MoneyReport:
        return cls(**json.loads(text))


def judge_invoice(
    report: MoneyReport,
    invoice: CreditedInvoice,
    transfers: Iterable[Transfer],
    ledger: Mapping[str, str],
) -> None:
    """Add one credited invoice to `report`, placing its net in exactly one line."""
    report.invoices += 1
    report.credited += invoice.gross_amount
    report.fees += invoice.fee
    report.net += invoice.net
    report.reversed += invoice.reversed
    attempts = list(transfers)
    successes = [t for t in attempts if t.status == "success"]
    pending = [t for t in attempts if t.status in _PENDING_STATUSES]
    stage = ledger.get("stage", "")

    def disagree(problem: str, **extra: str | int) -> None:
        report.disagreements.append(
            {"invoice_id": invoice.invoice_id, "net": invoice.net, "problem": problem, **extra}
        )

    if successes:
        forwarded = sum(t.amount for t in successes)
        report.forwarded += forwarded
        held = max(0, invoice.net)
        if len(successes) > 1:
            disagree("more than one successful forward", transfers=len(successes))
        elif invoice.reversed and forwarded == invoice.credited_net and forwarded > held:
            report.reversed_after_forward += forwarded - held
            report.reversals.append(
                {"invoice_id": invoice.invoice_id, "forwarded": forwarded, "held": held,
                 "reversed": invoice.reversed, "to_recover": forwarded - held}
            )  # fmt: skip
        elif forwarded != invoice.net:
            disagree("forwarded amount differs from net", forwarded=forwarded)
        return
    if invoice.net <= 0:
        report.skipped += invoice.net
        if [t for t in attempts if t.status not in _FAILED_STATUSES]:
            disagree("transfer exists for a non-positive net amount")
        return
    if pending:
        report.in_flight += invoice.net
        for transfer in pending:
            if transfer.amount != invoice.net:
                disagree("transfer amount differs from net", transfer_amount=transfer.amount)
        return
    if stage == "held":  # over a limit: nothing created; a person decides
        report.held += invoice.net
        return
    if stage == "rejected":  # a person said no: never sent
        report.rejected += invoice.net
        return
    if stage == "waiting":  # every attempt failed (or was refused) for lack of balance
        report.waiting += invoice.net
        return
    if attempts:  # every attempt failed: in flight only if a later one is queued
        latest = max((parse_external_id(t.external_id) or ("", 0))[1] for t in attempts)
        if stage == "queued" and int(ledger.get("attempt", "0")) > latest:
            report.in_flight += invoice.net
        else:
            report.failed += invoice.net
        return
    if stage in {"queued", "sent"}:
        report.in_flight += invoice.net
    elif stage == "dead":
        report.dead_lettered += invoice.net
    else:
        disagree("credited but no forward transfer and no record of one", stage=stage or "none")


async def store_report(store: Store, report: MoneyReport, *, history: int = 30) -> None:
    """Store `report` as the last one (every replica's ``/metrics`` reads it from there) and
    at the head of the history, which keeps the newest `history` reports
    (``RECONCILE_REPORT_HISTORY``); one transaction."""
    text = report.to_json()
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.set(store.keys.reconcile_report(), text)
        pipe.lpush(store.keys.reconcile_report_history(), text)
        pipe.ltrim(store.keys.reconcile_report_history(), 0, max(1, history) - 1)
        await pipe.execute()


async def load_report_history(store: Store) -> list[MoneyReport]:
    """Stored reports, newest first (at most ``RECONCILE_REPORT_HISTORY``)."""
    raw = await store.redis.lrange(store.keys.reconcile_report_history(), 0, -1)
    return [MoneyReport.from_json(str(text)) for text in raw or []]


async def load_report(store: Store) -> MoneyReport | None:
    """The last stored report, or None if no reconciliation ran yet."""
    text = await store.redis.get(store.keys.reconcile_report())
    return MoneyReport.from_json(str(text)) if text else None


def new_report(since: date) -> MoneyReport:
    return MoneyReport(since=since.isoformat(), generated_at=datetime.now(UTC).isoformat())
