"""The reconciliation sweep: close every gap between Stark Bank's records and ours.

Steps, each idempotent (running the sweep twice, or in two replicas, changes nothing twice):

a. undelivered events go through ``intake.take_event`` (the webhook path) and are marked
   delivered only after it returned, i.e. after their work is durably enqueued or recorded;
   an event that cannot be taken (malformed, or refused by the intake) is skipped, left
   undelivered, logged and listed in the report's ``events_refused``; the sweep goes on;
b. every ``credited`` invoice log since ``since`` without a forward transfer is enqueued
   (attempt 0, guarded by the same per-invoice claim as the webhook); one the worker's
   ownership read refused although this listing, read with our credentials, shows it
   credited is re-enqueued as the same attempt (``ledger.move``, evidence ``credited_listing``);
c. an invoice whose every forward attempt Stark Bank reports ``failed`` (or ``canceled``)
   is re-sent as the next attempt (``invoice-<id>-r<n>``) up to ``max_resends`` (plus the
   re-sends the balance wait made). An attempt with any ``success`` transfer is settled and one
   still ``created``/``processing`` blocks any re-send, so two can never both succeed. When
   the latest attempt's ``failed`` log says ``invalidbalance`` (read from Stark Bank), the
   invoice is set ``waiting`` instead (``short_balance``), and one already ``waiting`` is left
   to ``forwarding.balance_wait``;
d. an invoice whose ledger says an attempt is queued (or sent) while Stark Bank has no
   transfer for it and its stream entry is gone (neither in the stream nor pending: AOF
   ``everysec`` loss, failover, a manual trim) is re-enqueued as the SAME attempt, atomically
   (``ledger.move`` with its lost-entry guard), once older than ``FORWARD_CLAIM_IDLE_SECONDS``.
   The same ``external_id`` means Stark Bank still refuses a second transfer of it;
e. the money report (``report.judge_invoice``) over the same data;
f. the unexplained outflow (``outflow``): transfers to the destination that no credited
   invoice of ours explains, second forwards, and forwards above ``amount - fee``.

A forward ``held`` for a person's approval, or ``rejected``, is left alone by b-d (the intake's
per-invoice claim and the guarded moves refuse it) and has its own report line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

import structlog
from redis.exceptions import RedisError

from starkrelay import ledger
from starkrelay.bank import BankError, BankGateway
from starkrelay.core.store import Store
from starkrelay.forwarding.attempts import (
    Attempts,
    all_failed,
    forward_attempts,
    unique_transfers,
)
from starkrelay.forwarding.transfers import Destination
from starkrelay.ledger import Evidence, IntakeCode, MoveOutcome, Stage
from starkrelay.ledger.identity import ForwardItem
from starkrelay.reconciliation.outflow import unexplained_outflow
from starkrelay.reconciliation.report import CreditedInvoice, MoneyReport, judge_invoice, new_report
from starkrelay.reconciliation.short_balance import balance_failures, park_failed
from starkrelay.webhooks.events import MalformedEvent, parse_event
from starkrelay.webhooks.intake import IntakePolicy, take_event

log = structlog.get_logger(__name__)

MAX_REFUSED_LISTED = 100
"""At most this many refused events are listed in one report (all are logged)."""


@dataclass(frozen=True)
class SweepConfig:
    since: date
    max_resends: int
    replay_window_seconds: float
    workspace_id: str | None = None
    lost_entry_min_age_seconds: float = 60.0
    """A queued entry younger than this is never taken for lost (``FORWARD_CLAIM_IDLE_SECONDS``)."""
    destination: Destination | None = None
    """The account forwards pay; unexplained outflow is judged among transfers to it (all
    transfers when None)."""


async def sweep_undelivered_events(
    store: Store,
    bank: BankGateway,
    config: SweepConfig,
    refused: list[dict[str, str]] | None = None,
) -> int:
    """Take every undelivered event since `config.since`, then mark it delivered.
    Returns how many were marked. A Redis failure stops the sweep before any mark; an event
    that cannot be taken is skipped (not marked) and appended to `refused` (id, reason)."""
    events: list[dict[str, Any]] = [e async for e in bank.iter_undelivered_events(config.since)]
    policy = IntakePolicy(replay_window_seconds=config.replay_window_seconds)
    marked = 0
    for raw in events:
        try:
            event = parse_event(raw)
        except MalformedEvent as exc:
            _refuse(refused, raw, str(exc))
            continue
        if config.workspace_id is not None and event.workspace_id != config.workspace_id:
            continue
        try:
            outcome = await take_event(store, event, policy, source="reconcile")
        except RedisError:
            raise
        except Exception as exc:  # one event's problem must not stop every later sweep
            log.exception("reconcile.event.failed", event_id=event.id)
            _refuse(refused, raw, f"could not be taken ({type(exc).__name__})")
            continue
        try:
            await bank.mark_event_delivered(event.id)
        except BankError as exc:
            log.warning("reconcile.event.mark_failed", event_id=event.id, error=str(exc))
            continue
        marked += 1
        log.info("reconcile.event.delivered", event_id=event.id, outcome=outcome.value)
    return marked


def _refuse(refused: list[dict[str, str]] | None, raw: dict[str, Any], reason: str) -> None:
    """Log and list one event the sweep skips; the id is shown escaped and cut short."""
    event_id = str(raw.get("id")).encode("utf-8", "backslashreplace").decode()[:80]
    log.error("reconcile.event.refused", event_id=event_id, reason=reason)
    if refused is not None and len(refused) < MAX_REFUSED_LISTED:
        refused.append({"event_id": event_id, "reason": reason})


async def credited_invoices(bank: BankGateway, since: date) -> dict[str, CreditedInvoice]:
    """Invoices with a ``credited`` log since `since` (the latest log per invoice wins), with
    what their ``reversed`` logs gave back (the newest one carries the amount left). Logs are
    listed newest first and a reversal is newer than its credit, so one listing of both
    types holds every reversal of every credit it holds."""
    found: dict[str, CreditedInvoice] = {}
    left: dict[str, int] = {}
    async for entry in bank.iter_invoice_logs(types=["credited", "reversed"], after=since):
        invoice = entry.invoice
        if entry.type == "reversed":
            left.setdefault(invoice.id, invoice.amount)
        else:
            found.setdefault(invoice.id, CreditedInvoice(invoice.id, invoice.amount, invoice.fee))
    return {
        invoice_id: replace(credit, reversed=max(0, credit.gross_amount - left[invoice_id]))
        if invoice_id in left
        else credit
        for invoice_id, credit in found.items()
    }


async def _enqueue(store: Store, item: ForwardItem) -> bool:
    """Step b: attempt 0 of a credited invoice with no forward (the same claim as the
    webhook's, so both enqueue it once)."""
    code, _ = await ledger.intake(
        store,
        event_id=None,
        event_ttl_seconds=0,
        action="forward",
        invoice_id=item.invoice_id,
        attempt=item.attempt,
        now=time.time(),
        stream_fields=item.to_fields() | {"enqueued_at": f"{time.time():.6f}"},
    )
    return code is IntakeCode.ENQUEUED


async def _reopen_refused(store: Store, base: ForwardItem, record: dict[str, str]) -> bool:
    """Step b for an invoice the worker refused although our own credited logs list it (its
    ownership read missed the credit): the same attempt is enqueued again."""
    attempt = int(record.get("attempt", "0"))
    outcome, stream_id = await ledger.requeue(
        store,
        _with(base, attempt, "reconcile"),
        expected=[Stage.REFUSED],
        expected_attempt=attempt,
        evidence=Evidence.CREDITED_LISTING,
        ledger_fields={f"reopened:{attempt}": f"{time.time():.6f}"},
        ledger_counter="reopens",
    )
    if outcome is not MoveOutcome.MOVED:
        return False
    log.warning(
        "reconcile.refused.reopened",
        invoice_id=base.invoice_id,
        attempt=attempt,
        refused_reason=record.get("refused_reason"),
        stream_id=stream_id,
    )
    return True


async def _resend(store: Store, base: ForwardItem, attempt: int, record: dict[str, str]) -> bool:
    """Step c: attempt `attempt` once our listing shows every earlier one failed, only while
    the ledger holds an outcome for the one before (``failed``, or ``sent`` whose failed
    event was lost; no ledger at all after a Redis loss), never while it is ``queued``."""
    outcome, _ = await ledger.requeue(
        store,
        _with(base, attempt, "resend"),
        expected=[Stage.FAILED, Stage.SENT, Stage.NEW],
        expected_attempt=int(record.get("attempt", attempt - 1)),
        evidence=Evidence.LISTED_FAILED,
    )
    return outcome is MoveOutcome.MOVED


async def _requeue_if_lost(
    store: Store,
    base: ForwardItem,
    attempts: Attempts,
    config: SweepConfig,
) -> bool:
    """Step d for one invoice: True when its queued attempt's lost entry was re-enqueued.

    Only an attempt Stark Bank has no transfer for, and only while every attempt it does have
    definitely failed (one that may still succeed blocks it, as for re-sends)."""
    if attempts and not all_failed(attempts):
        return False
    recorded = await store.redis.hget(store.keys.webhook_ledger(base.invoice_id), "attempt")
    if recorded is None or int(recorded) in attempts:
        return False
    attempt = int(recorded)
    outcome, stream_id = await ledger.requeue(
        store,
        _with(base, attempt, "requeue"),
        expected=[Stage.QUEUED, Stage.SENT],
        expected_attempt=attempt,
        evidence=Evidence.LOST_ENTRY,
        lost_entry_min_age=config.lost_entry_min_age_seconds,
        ledger_counter="requeues",
    )
    if outcome is MoveOutcome.MOVED:
        log.warning(
            "reconcile.entry.requeued",
            invoice_id=base.invoice_id,
            attempt=attempt,
            stream_id=stream_id,
        )
        return True
    if outcome is MoveOutcome.NO_ENTRY_ID:
        log.info("reconcile.entry.unknown", invoice_id=base.invoice_id, attempt=attempt)
    return False


def next_attempt(attempts: Attempts, max_resends: int) -> int | None:
    """The attempt to send now, or None. Only when every existing attempt has definitely
    failed (an attempt with any ``success`` is settled, one with any live transfer may still
    succeed), and never past `max_resends` re-sends."""
    if not all_failed(attempts):
        return None
    following = max(attempts) + 1
    return following if following <= max_resends else None


async def reconcile(store: Store, bank: BankGateway, config: SweepConfig) -> MoneyReport:
    """Run steps a-f once and return the report (not stored; see ``service``)."""
    report = new_report(config.since)
    report.events_marked_delivered = await sweep_undelivered_events(
        store, bank, config, report.events_refused
    )
    credited = await credited_invoices(bank, config.since)
    listed = unique_transfers(await bank.find_transfers(after=config.since))
    transfers = forward_attempts(listed)
    ledgers = await _ledgers(store, credited)
    resendable = {
        invoice_id: attempt
        for invoice_id, invoice in credited.items()
        if invoice.net > 0
        and (attempt := _resend_attempt(transfers.get(invoice_id, {}), ledgers[invoice_id], config))
        is not None
    }
    short = await balance_failures(
        bank, [t.id for i in resendable for t in transfers[i][max(transfers[i])]]
    )
    for invoice in credited.values():
        invoice_id = invoice.invoice_id
        attempts = transfers.get(invoice_id, {})
        if invoice.net > 0:
            base = ForwardItem(invoice_id, invoice.net, invoice.gross_amount, invoice.fee)
            enqueued = False
            if not attempts:
                enqueued = await _enqueue(store, _with(base, 0, "reconcile"))
                if enqueued:
                    report.enqueued_missing += 1
                    log.warning("reconcile.credit.enqueued", invoice_id=invoice_id)
                elif ledgers[invoice_id].get("stage") == "refused":
                    enqueued = await _reopen_refused(store, base, ledgers[invoice_id])
                    report.refused_reopened += enqueued
            elif (attempt := resendable.get(invoice_id)) is not None:
                latest = max(attempts)
                if any(t.id in short for t in attempts[latest]):
                    if await park_failed(store, base, latest):
                        report.parked_for_balance += 1
                else:
                    enqueued = await _resend(store, base, attempt, ledgers[invoice_id])
                    if enqueued:
                        report.resent += 1
                        log.warning(
                            "reconcile.forward.resent", invoice_id=invoice_id, attempt=attempt
                        )
            if not enqueued and await _requeue_if_lost(store, base, attempts, config):
                report.lost_requeued += 1
            waits = ledgers[invoice_id]
            if waits.get("stage") == "waiting" and "amount" not in waits:
                # the balance check needs the amounts, which the credited record gives
                await park_failed(store, base, int(waits.get("attempt", "0")))
        ledger = cast(
            dict[str, str], await store.redis.hgetall(store.keys.webhook_ledger(invoice_id))
        )
        judge_invoice(report, invoice, [t for ts in attempts.values() for t in ts], ledger)
    # a forward sent before a reversal is explained by the credit; the reversal is its own line
    nets = {invoice_id: invoice.credited_net for invoice_id, invoice in credited.items()}
    findings = await unexplained_outflow(bank, listed, nets, config.destination)
    report.unexplained = [finding.as_row() for finding in findings]
    report.unexplained_outflow = sum(finding.amount for finding in findings)
    report.foreign_events = int(
        await store.redis.hget(store.keys.forward_counters(), "foreign_events") or 0
    )
    for row in report.reversals:
        log.error("reconcile.reversal.after_forward", **row)
    for finding in findings:
        log.error("reconcile.outflow.unexplained", **finding.as_row())
    log.info(
        "reconcile.finished",
        since=config.since.isoformat(),
        invoices=report.invoices,
        forwarded=report.forwarded,
        in_flight=report.in_flight,
        waiting=report.waiting,
        disagreements=len(report.disagreements),
        unexplained_outflow=report.unexplained_outflow,
    )
    return report


async def _ledgers(store: Store, credited: dict[str, CreditedInvoice]) -> dict[str, dict[str, str]]:
    pipe = store.redis.pipeline(transaction=False)
    for invoice_id in credited:
        pipe.hgetall(store.keys.webhook_ledger(invoice_id))
    rows = await pipe.execute() if credited else []
    return {invoice_id: dict(row) for invoice_id, row in zip(credited, rows, strict=True)}


def _resend_attempt(attempts: Attempts, ledger: dict[str, str], config: SweepConfig) -> int | None:
    """Step c's attempt for one invoice, or None. A forward waiting for the balance belongs
    to ``forwarding.balance_wait``; re-sends it made do not count against the bound."""
    if ledger.get("stage") == "waiting":
        return None
    budget = config.max_resends + int(ledger.get("balance_resends", 0))
    return next_attempt(attempts, budget)


def _with(item: ForwardItem, attempt: int, source: str) -> ForwardItem:
    return ForwardItem(item.invoice_id, item.amount, item.gross_amount, item.fee, attempt, source)
