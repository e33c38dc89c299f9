"""Transfer events we cannot take as read: each is a hint to look our own listing up.

A signed transfer event names a forward of ours (``external_id`` ``invoice-<id>[-r<n>]``)
but a transfer id we never recorded: our create's answer was lost, or a stranger made a
transfer with our external id in their own workspace and pointed their webhook at us. The
intake keeps only the hint (``forward_hints``: invoice id -> the ids events named). Here,
in the balance wait's pass (one replica at a time), up to 100 hinted invoices are looked up
in ONE listing by their tags, read with our credentials, so only our workspace's transfers
can appear:

- what our listing holds for the ledger's attempt moves the stage (``Evidence.OUR_TRANSFER``),
  guarded by the stage and attempt read, like every other move;
- an event's transfer our listing does not hold is foreign: counted (metric, the counter the
  money report reads), logged once, and nothing else.
"""

from __future__ import annotations

import structlog

from starkrelay import ledger
from starkrelay.bank import BankError, BankGateway, Transfer
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.store import Store
from starkrelay.forwarding.attempts import attempt_state, forward_attempts, unique_transfers
from starkrelay.ledger import MoveOutcome, Stage, reads
from starkrelay.ledger.identity import tag_for

log = structlog.get_logger(__name__)

_STATE_STAGE = {"settled": Stage.SUCCESS, "failed": Stage.FAILED, "live": Stage.SENT}


async def settle_hints(store: Store, bank: BankGateway, limit: int = 100) -> int:
    """Look up to `limit` hinted invoices up (one listing) and record what our listing
    holds. Returns how many stages moved. A failed listing puts the hints back and raises."""
    hints = await reads.take_hints(store, limit)
    if not hints:
        return 0
    await store.redis.hincrby(store.keys.forward_counters(), "lookup_calls", 1)
    try:
        listed = await bank.find_transfers(tags=sorted(tag_for(i) for i in hints))
    except BankError:
        await reads.put_hints(store, hints)
        raise
    transfers = unique_transfers(listed)
    ours = {t.id for t in transfers}
    by_invoice = forward_attempts(transfers)
    pipe = store.redis.pipeline(transaction=False)
    for invoice_id in hints:
        pipe.hmget(store.keys.webhook_ledger(invoice_id), "stage", "attempt")
    rows = await pipe.execute()
    moved = 0
    for (invoice_id, named), (stage, attempt) in zip(hints.items(), rows, strict=True):
        for transfer_id in named:
            if transfer_id not in ours:
                await _count_foreign(store, invoice_id, transfer_id)
        if stage is None or attempt is None:
            continue
        found = by_invoice.get(invoice_id, {}).get(int(attempt))
        if found and await _record(store, invoice_id, Stage(stage), int(attempt), found):
            moved += 1
    return moved


async def _record(
    store: Store,
    invoice_id: str,
    stage: Stage,
    attempt: int,
    transfers: list[Transfer],
) -> bool:
    target = _STATE_STAGE[attempt_state(transfers)]
    if target is stage:
        return False
    deciding = next((t for t in transfers if t.status == "success"), transfers[-1])
    outcome, _ = await ledger.record_found(
        store,
        invoice_id,
        deciding,
        expected=[stage],
        expected_attempt=attempt,
        target=target,
        attempt=attempt,
    )
    if outcome is MoveOutcome.MOVED:
        log.info(
            "forwarding.hint.recorded",
            invoice_id=invoice_id,
            transfer_id=deciding.id,
            status=deciding.status,
            stage=str(target),
        )
        return True
    return False


async def _count_foreign(store: Store, invoice_id: str, transfer_id: str) -> None:
    await store.redis.hincrby(store.keys.forward_counters(), "foreign_events", 1)
    metrics.FOREIGN_EVENTS.labels("not_in_our_listing").inc()
    log.warning("forwarding.hint.foreign", invoice_id=invoice_id, transfer_id=transfer_id)
