"""Recording what became of forward entries: a transfer created or found, or none.

Each function records one outcome in the invoice's ledger (and, where it settles the entry,
acknowledges it in the same Lua step), counts it and logs it with the invoice id, so the
worker reads as a list of decisions. Nothing here calls Stark Bank.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

import structlog

from starkrelay import ledger
from starkrelay.bank import BankError, BankUnavailableError, Transfer
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.store import Store
from starkrelay.forwarding.ownership import OwnershipVerdict
from starkrelay.forwarding.reader import Entry
from starkrelay.ledger import FORWARD_GROUP, Evidence, Settlement, Stage

log = structlog.get_logger("starkrelay.forwarding.worker")

_STATUS_STAGE = {"success": Stage.SUCCESS, "failed": Stage.FAILED, "canceled": Stage.FAILED}
"""What a transfer our look-up found says of the forward (any other status: ``sent``)."""

LedgerExtra = dict[str, dict[str, str | int]]
"""Per entry id: ledger fields the ownership read produced, written (and popped) at settlement."""


async def record_created(
    store: Store, entries: Sequence[Entry], created: list[Transfer], extra: LedgerExtra
) -> None:
    """Stage ``sent`` for each entry whose transfer the create's answer holds, and XACK it;
    an entry the answer lacks stays pending (looked up next round)."""
    by_external = {t.external_id: t for t in created}
    now = time.time()
    settled: list[tuple[Entry, Transfer]] = []
    for entry in entries:
        transfer = by_external.get(entry.readable_item.external_id)
        if transfer is None:  # the API answered without it: look again next round
            log.error("forwarding.transfer.missing_in_answer", entry_id=entry.id)
            continue
        settled.append((entry, transfer))
    await _record_transfers(store, settled, Stage.SENT, now, extra)
    for entry, _ in settled:
        if entry.enqueued_at is not None:
            metrics.FORWARD_LATENCY.observe(max(0.0, now - entry.enqueued_at))


async def record_found(
    store: Store, entries: Sequence[Entry], found: list[Transfer], extra: LedgerExtra
) -> set[str]:
    """Record each transfer of `found` (our own listing) as its entry's attempt, at the stage
    its status says, and XACK the entry. Returns the ids of the entries settled."""
    by_external = {t.external_id: t for t in found}
    by_stage: dict[Stage, list[tuple[Entry, Transfer]]] = {}
    for entry in entries:
        transfer = by_external.get(entry.readable_item.external_id)
        if transfer is not None:
            stage = _STATUS_STAGE.get(transfer.status, Stage.SENT)
            by_stage.setdefault(stage, []).append((entry, transfer))
    now = time.time()
    for stage, settled in by_stage.items():
        await _record_transfers(store, settled, stage, now, extra, confirmed=True)
    return {entry.id for settled in by_stage.values() for entry, _ in settled}


async def _record_transfers(
    store: Store,
    settled: Sequence[tuple[Entry, Transfer]],
    stage: Stage,
    now: float,
    extra: LedgerExtra,
    *,
    confirmed: bool = False,
) -> None:
    """Record each entry's transfer and XACK it (one round trip for the whole list)."""
    settlements = []
    for entry, transfer in settled:
        item = entry.readable_item
        settlements.append(
            Settlement.of(
                entry_id=entry.id,
                item=item,
                stage=stage,
                evidence=Evidence.OUR_TRANSFER if confirmed else Evidence.CREATE,
                amount=0 if confirmed else item.amount,
                now=now,
                ledger_fields=extra.pop(entry.id, {})
                | {
                    f"transfer:{item.attempt}": transfer.id,
                    f"transfer_status:{item.attempt}": transfer.status,
                    f"external_id:{item.attempt}": item.external_id,
                    "sent_at": f"{now:.6f}",
                },
            )
        )
    done = await ledger.settle(store, settlements)
    outcome = "confirmed_duplicate" if confirmed else "sent"
    for (entry, transfer), one, settlement in zip(settled, done, settlements, strict=True):
        item = entry.readable_item
        if one.acked:
            metrics.transfers_by_outcome(outcome).inc()
            if not confirmed:
                metrics.FORWARDED_CENTS.inc(item.amount)
            if "claimed_amount" in settlement.ledger_fields:
                metrics.AMOUNT_MISMATCHES.inc()
            metrics.REVERSED_BEFORE_FORWARD.inc(
                int(settlement.ledger_fields.get("reversed_amount", 0))
            )
        log.info(
            "forwarding.transfer.confirmed" if confirmed else "forwarding.transfer.created",
            invoice_id=item.invoice_id,
            transfer_id=transfer.id,
            external_id=item.external_id,
            amount=item.amount,
            deliveries=entry.deliveries,
        )


def claimed_fields(verdict: OwnershipVerdict) -> dict[str, str | int]:
    """Ledger fields of a verdict: the record's amounts, and what the entry claimed when it
    claimed something else."""
    item, claimed = verdict.item, verdict.claimed
    fields: dict[str, str | int] = {
        "amount": item.amount,
        "gross_amount": item.gross_amount,
        "fee": item.fee,
    }
    if verdict.credit is not None and verdict.credit.reversed:
        fields["reversed_amount"] = verdict.credit.reversed
    if verdict.mismatch:
        fields |= {
            "claimed_amount": claimed.amount,
            "claimed_gross_amount": claimed.gross_amount,
            "claimed_fee": claimed.fee,
            "recorded_amount": item.amount,
        }
    return fields


async def record_refused(store: Store, refused: Sequence[tuple[Entry, OwnershipVerdict]]) -> None:
    """Stage ``refused`` (final) with its reason, and XACK, for each entry (one round trip):
    nothing is ever sent for them."""
    now = time.time()
    settlements = []
    for entry, verdict in refused:
        item = verdict.claimed
        fields: dict[str, str | int] = {
            "refused_reason": verdict.reason,
            "refused_detail": verdict.detail,
            "refused_at": f"{now:.6f}",
            "claimed_amount": item.amount,
        }
        if entry.event_id:
            fields["refused_event_id"] = entry.event_id
        if entry.workspace_id:
            fields["claimed_workspace_id"] = entry.workspace_id
        settlements.append(
            Settlement.of(
                entry.id, item, Stage.REFUSED, Evidence.OWNERSHIP, item.amount, now, fields
            )
        )
    settled = await ledger.settle(store, settlements)
    for (entry, verdict), done in zip(refused, settled, strict=True):
        if done.acked:
            metrics.FORWARD_REFUSED.labels(verdict.reason).inc()
            metrics.TRANSFERS.labels("refused").inc()
        log.error(
            "forwarding.item.refused",
            invoice_id=verdict.claimed.invoice_id,
            event_id=entry.event_id,
            claimed_workspace_id=entry.workspace_id,
            source=verdict.claimed.source,
            reason=verdict.reason,
            detail=verdict.detail,
            claimed_amount=verdict.claimed.amount,
        )


async def record_skipped(store: Store, entry: Entry, verdict: OwnershipVerdict) -> None:
    """Stage ``skipped``: Stark Bank's record leaves nothing to forward (net <= 0)."""
    item, fields = verdict.item, claimed_fields(verdict) | {"skipped_reason": verdict.detail}
    skipped = Settlement.of(
        entry.id, item, Stage.SKIPPED, Evidence.OWNERSHIP, 0, time.time(), fields
    )
    [done] = await ledger.settle(store, [skipped])
    if done.acked:
        metrics.TRANSFERS.labels("skipped").inc()
        if verdict.credit is not None:
            metrics.REVERSED_BEFORE_FORWARD.inc(verdict.credit.reversed)
    log.warning(
        "forwarding.item.skipped",
        invoice_id=item.invoice_id,
        amount=item.amount,
        reason=verdict.detail,
    )


async def dead_letter(
    store: Store, entry: Entry, reason: str, kind: str, evidence: Evidence
) -> None:
    """Stage ``dead``: copy the entry to the dead-letter stream with `reason` and XACK it."""
    item = entry.readable_item
    settlement = Settlement.of(
        entry.id, item, Stage.DEAD, evidence, item.amount, time.time(),
        {"dead_reason": reason[:500]},
        item.to_fields() | {"entry_id": entry.id, "kind": kind, "reason": reason[:500]},
    )  # fmt: skip
    await ledger.settle(store, [settlement])
    metrics.TRANSFERS.labels("dead").inc()
    log.error(
        "forwarding.item.dead_lettered",
        invoice_id=item.invoice_id,
        external_id=item.external_id,
        kind=kind,
        reason=reason,
    )


async def drop_unreadable(store: Store, entry: Entry) -> None:
    """An entry whose fields are not a forward item: dead-letter its raw fields, XACK it."""
    stream = store.keys.forward_stream()
    raw = await store.redis.xrange(stream, entry.id, entry.id)
    fields: dict[str, str] = {str(k): str(v) for k, v in (raw[0][1] or {}).items()} if raw else {}
    fields |= {"entry_id": entry.id, "kind": "unreadable", "reason": "unreadable"}
    await store.redis.xadd(store.keys.forward_dead_letters(), dict(fields.items()))
    await store.redis.xack(stream, FORWARD_GROUP, entry.id)
    log.error("forwarding.entry.unreadable", entry_id=entry.id)


async def note_failure(store: Store, entries: list[Entry], exc: BankError) -> None:
    """Keep a failure's message in each invoice's ledger (``last_error``); the entries stay
    pending. Stark Bank throttling or down is also kept, shared by every replica, for the
    status API and the console (``Keys.bank_health``) until a batch goes through."""
    log.warning("forwarding.batch.unavailable", size=len(entries), error=str(exc))
    if isinstance(exc, BankUnavailableError):
        now = f"{time.time():.6f}"
        pipe = store.redis.pipeline(transaction=True)
        pipe.hsetnx(store.keys.bank_health(), "since", now)
        pipe.hset(
            store.keys.bank_health(), items=["kind", exc.kind, "last_at", now, "error", str(exc)]
        )
        await pipe.execute()
    for entry in entries:
        await ledger.note(store, entry.readable_item.invoice_id, {"last_error": str(exc)[:300]})


async def last_error(store: Store, entry: Entry) -> str:
    """Why an entry is given up on after too many deliveries."""
    if entry.item is None:
        return "unreadable entry"
    ledger = store.keys.webhook_ledger(entry.item.invoice_id)
    error = cast(str | None, await store.redis.hget(ledger, "last_error"))
    return f"gave up after {entry.deliveries - 1} deliveries; last error: {error or 'none'}"


async def bank_answered(store: Store) -> None:
    """A batch went through: Stark Bank answers again (the shared record is cleared)."""
    await store.redis.unlink(store.keys.bank_health())
