"""Reconciliation's half of the balance wait: failed forwards whose failure was the balance.

A forward whose transfer ``failed`` for lack of balance must wait for the balance, not be
re-sent at once (it would fail again and spend the re-send budget). The webhook of the
``failed`` log already sets it ``waiting``; when that webhook never arrived, reconciliation
finds out by reading the ``failed`` logs of the latest failed attempts from Stark Bank (up to
100 transfers per call, only for invoices it would otherwise re-send) and sets them waiting
here, through the same ledger script (so the waiting index follows in the same step).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog

from starkrelay import ledger
from starkrelay.bank import BankGateway
from starkrelay.core.store import Store
from starkrelay.ledger import Evidence, Move, MoveOutcome, Stage
from starkrelay.ledger.identity import ForwardItem, is_balance_failure

log = structlog.get_logger(__name__)

_IDS_PER_CALL = 100


async def balance_failures(bank: BankGateway, transfer_ids: Iterable[str]) -> set[str]:
    """The ids among `transfer_ids` whose ``failed`` log carries ``invalidbalance``."""
    wanted = sorted(set(transfer_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _IDS_PER_CALL):
        batch = wanted[start : start + _IDS_PER_CALL]
        async for entry in bank.iter_transfer_logs(types=["failed"], transfer_ids=batch):
            if is_balance_failure(entry.errors):
                found.add(entry.transfer.id)
    return found


async def park_failed(store: Store, item: ForwardItem, attempt: int) -> bool:
    """Set `item`'s invoice ``waiting`` at `attempt` (its failed attempt; the failed log we
    read says ``invalidbalance``). True when the ledger now waits at that attempt (False: it
    had already moved past it)."""
    invoice_id = item.invoice_id
    amounts = {"amount": item.amount, "gross_amount": item.gross_amount, "fee": item.fee}
    outcome, _ = await ledger.move(
        store,
        Move(
            invoice_id=invoice_id,
            expected=[Stage.FAILED, Stage.SENT, Stage.NEW],
            expected_attempt=attempt,
            target=Stage.WAITING,
            attempt=attempt,
            evidence=Evidence.OUR_TRANSFER,
            now=time.time(),
            ledger_fields=amounts
            | {"waiting_reason": "transfer failed: invalidbalance (read by reconciliation)"},
        ),
    )
    stage, at = await store.redis.hmget(store.keys.webhook_ledger(invoice_id), "stage", "attempt")
    parked = stage == "waiting" and at is not None and int(at) == attempt
    if outcome is MoveOutcome.MOVED:
        log.warning("reconcile.forward.waiting_for_balance", invoice_id=invoice_id, attempt=attempt)
    elif parked and outcome is MoveOutcome.NOT_AT:  # waiting already: keep its amounts known
        await ledger.note(store, invoice_id, amounts)
    return parked
