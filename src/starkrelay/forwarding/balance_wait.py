"""Forwards that wait for the balance, and the background part that sends them once it covers.

A forward Stark Bank refused at create with ``invalidBalance``, or whose transfer ``failed``
with ``invalidbalance``, is neither re-sent at once nor dead-lettered: it moves to the ledger
stage ``waiting`` (the worker's ``_wait_for_balance``, or the intake of the ``failed`` log;
both are hints) and spends none of its re-send budget. Every ``FORWARD_BALANCE_CHECK_SECONDS``
this part, in one replica at a time (a Redis lock), does nothing unless something waits; then:

1. reads the waiting invoices, oldest first, and Stark Bank with our credentials: the balance
   and every transfer tagged ``invoice:<id>`` of those invoices;
2. an invoice Stark Bank holds a ``success`` (or a still live) transfer for is recorded as
   such and leaves ``waiting``; nothing is sent for it;
3. the others are released, oldest first, while the balance covers their amount plus the
   transfer fee (the largest fee Stark Bank charged on the transfers read, or remembered from
   an earlier pass; 0 if none was ever seen): under
   the next attempt id (``invoice-<id>-r<n>``) when Stark Bank reports the waiting attempt
   ``failed``, or as the SAME attempt when Stark Bank holds no transfer for it (its create was
   refused, so its ``external_id`` was never used). The first one the balance does not cover
   stops the pass, so a large old forward is never overtaken by newer small ones.

Each release is one Lua step that checks the ledger still says ``waiting`` at the attempt read
in step 1, so two passes racing, a pass that crashed and runs again, or a pass that read Stark
Bank before a newer attempt was recorded enqueue nothing twice. The worker then sends the
entry like any other: a lost response is settled by the same ``external_id``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import structlog
from redis.exceptions import RedisError

from starkrelay import ledger
from starkrelay.bank import BankError, BankGateway, BankInputError, Transfer
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.store import Store, claim, new_token, release
from starkrelay.forwarding.attempts import (
    Attempts,
    all_failed,
    first_in,
    forward_attempts,
    unique_transfers,
)
from starkrelay.forwarding.hints import settle_hints
from starkrelay.ledger import Evidence, MoveOutcome, Settlement, Stage, reads
from starkrelay.ledger.identity import ForwardItem, is_balance_failure, tag_for
from starkrelay.ledger.reads import Waiter

log = structlog.get_logger(__name__)

LOCK_SECONDS = 120.0
"""A crashed pass's lock frees itself after this long."""
_TAGS_PER_CALL = 100


def balance_refusals(refusal: BankInputError, batch_size: int) -> set[int]:
    """Positions of a refused batch that Stark Bank refused for lack of balance (and for
    nothing else). An error naming no position counts for position 0 of a batch of one."""
    codes: dict[int, set[str]] = {}
    for error in refusal.errors:
        index = refusal.item_index(error)
        if index is None and batch_size == 1:
            index = 0
        if index is not None and 0 <= index < batch_size:
            codes.setdefault(index, set()).add(error.code)
    return {i for i, found in codes.items() if all(is_balance_failure([c]) for c in found)}


async def park(
    store: Store,
    entries: Sequence[tuple[str, ForwardItem]],
    reason: str,
    now: float | None = None,
) -> list[bool]:
    """Settle stream entries ``(entry_id, item)`` as ``waiting``: each acknowledged, its ledger
    moved to ``waiting`` and its invoice put in the waiting index, in one Lua step per entry.
    Returns, per entry, True when this call acknowledged it."""
    moment = time.time() if now is None else now
    settlements = [
        Settlement.of(
            entry_id=entry_id,
            item=item,
            stage=Stage.WAITING,
            evidence=Evidence.CREATE,
            amount=item.amount,
            now=moment,
            ledger_fields={
                "waiting_reason": reason[:300],
                "amount": item.amount,
                "gross_amount": item.gross_amount,
                "fee": item.fee,
            },
        )
        for entry_id, item in entries
    ]
    done = await ledger.settle(store, settlements)
    firsts = [one.acked for one in done]
    for (_, item), first in zip(entries, firsts, strict=True):
        if first:
            metrics.TRANSFERS.labels("waiting").inc()
        log.warning(
            "forwarding.item.waiting_for_balance",
            invoice_id=item.invoice_id,
            external_id=item.external_id,
            amount=item.amount,
            reason=reason,
        )
    return firsts


@dataclass
class BalancePass:
    """What one pass saw and did (also kept in Redis for ``status``)."""

    checked_at: float
    waiting: int = 0
    balance: int | None = None
    fee_estimate: int = 0
    released: int = 0
    released_cents: int = 0
    recorded: int = 0
    lost_race: int = 0
    still_waiting: int = 0
    needed_next: int = 0
    """Amount plus fee of the oldest forward still waiting (0 when none is)."""
    released_invoices: list[str] = field(default_factory=list)

    def as_fields(self) -> dict[str, str]:
        data = asdict(self)
        data["released_invoices"] = ",".join(self.released_invoices[:50])
        return {name: "" if value is None else str(value) for name, value in data.items()}


async def release_covered(store: Store, bank: BankGateway, *, limit: int = 1000) -> BalancePass:
    """One pass over the waiting forwards (module docstring, steps 1-3). Safe to run
    concurrently and again after a crash. Raises Bank and Redis errors (nothing past the
    failure was released; the next pass continues)."""
    result = BalancePass(checked_at=time.time())
    waiters = await reads.list_waiting(store, limit=limit)
    result.waiting = len(waiters)
    if not waiters:
        return result
    transfers: list[Transfer] = []
    tags = [tag_for(w.invoice_id) for w in waiters]
    for start in range(0, len(tags), _TAGS_PER_CALL):
        transfers += await bank.find_transfers(tags=tags[start : start + _TAGS_PER_CALL])
    transfers = unique_transfers(transfers)
    by_invoice = forward_attempts(transfers)
    balance = (await bank.get_balance()).amount
    previous = (await reads.last_balance_check(store)).get("fee_estimate") or "0"
    fee = max([int(previous), *(t.fee for t in transfers)])
    result.balance, result.fee_estimate = balance, fee
    budget = balance
    for index, waiter in enumerate(waiters):
        attempts = by_invoice.get(waiter.invoice_id, {})
        if await _record_existing(store, waiter, attempts):
            result.recorded += 1
            continue
        cost = waiter.amount + fee
        if cost > budget:
            result.still_waiting = len(waiters) - index
            result.needed_next = cost
            break
        attempt = _release_attempt(waiter, attempts)
        if attempt is None:  # an attempt may still succeed, or is not ours to judge yet
            result.lost_race += 1
            continue
        now = time.time()
        later = attempt > waiter.attempt
        outcome, entry_id = await ledger.requeue(
            store,
            _item(waiter, attempt),
            expected=[Stage.WAITING],
            expected_attempt=waiter.attempt,
            evidence=Evidence.BALANCE,
            now=now,
            ledger_fields={f"released:{attempt}": f"{now:.6f}"},
            counter="items_released",
            ledger_counter="balance_resends" if later else "",
        )
        if outcome is not MoveOutcome.MOVED:
            result.lost_race += 1
            log.info("forwarding.balance.not_waiting", invoice_id=waiter.invoice_id, now=entry_id)
            continue
        budget -= cost
        result.released += 1
        result.released_cents += waiter.amount
        result.released_invoices.append(waiter.invoice_id)
        metrics.BALANCE_RELEASES.labels("queued").inc()
        log.warning(
            "forwarding.balance.released",
            invoice_id=waiter.invoice_id,
            attempt=attempt,
            amount=waiter.amount,
            balance=balance,
            entry_id=entry_id,
        )
    return result


def _release_attempt(waiter: Waiter, attempts: Attempts) -> int | None:
    """The waiting attempt again if Stark Bank holds no transfer for it or any later one
    (its create was refused, so its ``external_id`` was never used); the next one when our
    listing shows every attempt failed (the re-send rule); else None (one may still succeed:
    ``_record_existing`` records it first)."""
    if not any(attempt >= waiter.attempt for attempt in attempts):
        return waiter.attempt
    if not all_failed(attempts):
        return None
    return max([*attempts, waiter.attempt]) + 1


async def _record_existing(store: Store, waiter: Waiter, attempts: Attempts) -> bool:
    """Record a success (or a live transfer) Stark Bank holds for a waiting invoice."""
    found = first_in(attempts, "settled")
    stage = Stage.SUCCESS
    if found is None:
        found, stage = first_in(attempts, "live"), Stage.SENT
    if found is None:
        return False
    attempt, transfer = found
    outcome, _ = await ledger.record_found(
        store,
        waiter.invoice_id,
        transfer,
        expected=[Stage.WAITING],
        expected_attempt=waiter.attempt,
        target=stage,
        attempt=attempt,
        counter="items_release_recorded",
    )
    if outcome is MoveOutcome.MOVED:
        metrics.BALANCE_RELEASES.labels("recorded").inc()
        log.warning(
            "forwarding.balance.transfer_found",
            invoice_id=waiter.invoice_id,
            transfer_id=transfer.id,
            status=transfer.status,
        )
    return True


def _item(waiter: Waiter, attempt: int) -> ForwardItem:
    return ForwardItem(
        waiter.invoice_id, waiter.amount, waiter.gross_amount, waiter.fee, attempt, "balance"
    )


async def checked_pass(store: Store, bank: BankGateway) -> BalancePass | None:
    """A pass under the lock, when anything waits; None when nothing waits or another
    process holds the lock. The outcome is kept for ``status``."""
    waiting = await reads.waiting_count(store)
    hinted = await store.redis.hlen(store.keys.forward_hints())
    if not waiting and not hinted:
        return None
    lock, token = store.keys.balance_wait_lock(), new_token()
    if not await claim(store.redis, lock, token, LOCK_SECONDS):
        return None
    try:
        if hinted:
            await settle_hints(store, bank)
        result = await release_covered(store, bank)
        await reads.save_balance_check(store, result.as_fields())
    finally:
        await release(store.redis, lock, token)
    log.info(
        "forwarding.balance.checked",
        waiting=result.waiting,
        balance=result.balance,
        released=result.released,
        recorded=result.recorded,
        needed_next=result.needed_next,
    )
    return result


async def background_pass(store: Store, bank: BankGateway) -> None:
    """What the background part ``balance_waiter`` runs every ``FORWARD_BALANCE_CHECK_SECONDS``:
    ``checked_pass``, with Bank and Redis errors logged (the next pass retries)."""
    try:
        await checked_pass(store, bank)
    except (BankError, RedisError) as exc:
        log.warning("forwarding.balance.check_failed", error=str(exc), kind=type(exc).__name__)
