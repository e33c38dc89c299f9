"""Dead letters for people: read them, and re-drive the ones whose cause was fixed.

A retry never mints a new identity: the dead-lettered attempt goes back to the forward stream
as the SAME attempt (same ``external_id``), so Stark Bank's uniqueness still guards against a
second transfer, and if that transfer exists after all the worker confirms it by tag. Before
re-enqueuing, Stark Bank is asked for every forward transfer of the invoice (tag
``invoice:<id>``); if one is ``created``, ``processing`` or ``success`` it is recorded instead
and nothing is sent. Every step is idempotent: retrying a dead letter twice re-drives it once
(``ledger.move`` deletes it in the same atomic step).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import structlog

from starkrelay import ledger
from starkrelay.bank import BankGateway, Transfer
from starkrelay.core.store import Store
from starkrelay.ledger import Evidence, MoveOutcome, Stage
from starkrelay.ledger.identity import ForwardItem, external_id_for, parse_external_id, tag_for

log = structlog.get_logger(__name__)

LIVE_STATUSES = ("success", "processing", "created")
"""Transfer statuses that mean the money moved or may still move: never send again."""


@dataclass(frozen=True)
class DeadLetter:
    """One entry of the dead-letter stream (``Keys.forward_dead_letters``)."""

    id: str
    """The dead-letter stream entry id (its first part is the time it was written, in ms)."""
    fields: Mapping[str, str]

    @property
    def item(self) -> ForwardItem | None:
        """The forward item, or None for an entry that was unreadable when it died."""
        try:
            return ForwardItem.from_fields(self.fields)
        except ValueError:
            return None

    @property
    def invoice_id(self) -> str:
        return self.fields.get("invoice_id", "")

    @property
    def reason(self) -> str:
        return self.fields.get("reason", "")

    @property
    def kind(self) -> str:
        return self.fields.get("kind", "")

    @property
    def dead_at(self) -> float:
        """Epoch seconds when it was dead-lettered."""
        return int(self.id.split("-")[0]) / 1000


async def list_dead_letters(
    store: Store, *, invoice_ids: Iterable[str] | None = None
) -> list[DeadLetter]:
    """Every dead letter, oldest first; only those of `invoice_ids` when given."""
    wanted = None if invoice_ids is None else set(invoice_ids)
    entries = await store.redis.xrange(store.keys.forward_dead_letters())
    letters = [
        DeadLetter(str(entry_id), {str(k): str(v) for k, v in (fields or {}).items()})
        for entry_id, fields in entries or []
    ]
    return [d for d in letters if wanted is None or d.invoice_id in wanted]


class RetryOutcome(enum.StrEnum):
    """What ``retry_dead_letter`` did with one dead letter."""

    REQUEUED = "requeued"
    """Re-enqueued as the same attempt; the worker will send it (or confirm it by tag)."""
    RECORDED = "recorded"
    """Stark Bank already holds a live transfer for the invoice: recorded, nothing sent."""
    ALREADY_RETRIED = "already_retried"
    """The dead letter was no longer there (retried or recorded before): nothing done."""
    NOT_DEAD = "not_dead"
    """The invoice's ledger is not at ``dead`` for this attempt: nothing done, letter kept."""
    UNREADABLE = "unreadable"
    """The entry names no usable forward item: nothing done, letter kept."""


@dataclass(frozen=True)
class RetryResult:
    dead_letter: DeadLetter
    outcome: RetryOutcome
    detail: str = ""
    """The new stream entry id (requeued), the recorded transfer id and status (recorded),
    the ledger's ``<stage>:<attempt>`` (not_dead) or why (unreadable)."""


def _live_transfer(invoice_id: str, transfers: Iterable[Transfer]) -> tuple[int, Transfer] | None:
    """The invoice's forward transfer that moved or may move money: a ``success`` first,
    else the latest attempt still ``created``/``processing``; None when there is none."""
    live: list[tuple[int, int, Transfer]] = []
    for transfer in transfers:
        ours = parse_external_id(transfer.external_id)
        if ours is None or ours[0] != invoice_id or transfer.status not in LIVE_STATUSES:
            continue
        live.append((transfer.status == "success", ours[1], transfer))
    if not live:
        return None
    _, attempt, transfer = max(live, key=lambda found: (found[0], found[1]))
    return attempt, transfer


async def retry_dead_letter(store: Store, bank: BankGateway, letter: DeadLetter) -> RetryResult:
    """Re-drive one dead letter (see the module docstring). Safe to call any number of
    times and from several processes: the Redis step is atomic and deletes the letter.
    Raises ``BankError`` when Stark Bank cannot be asked (nothing is then changed)."""
    item = letter.item
    if item is None:
        return RetryResult(letter, RetryOutcome.UNREADABLE, "the entry names no forward item")
    found = await bank.find_transfers(tags=[tag_for(item.invoice_id)])
    live = _live_transfer(item.invoice_id, found)
    now = time.time()
    redriven = {f"redriven:{item.attempt}": f"{now:.6f}"}
    if live is None:
        outcome, detail = await ledger.requeue(
            store,
            item,
            expected=[Stage.DEAD],
            expected_attempt=item.attempt,
            evidence=Evidence.REDRIVE,
            now=now,
            ledger_fields=redriven,
            counter="items_redriven",
            ledger_counter="redrives",
            dead_letter_id=letter.id,
        )
    else:
        attempt, transfer = live
        outcome, detail = await ledger.record_found(
            store,
            item.invoice_id,
            transfer,
            expected=[Stage.DEAD],
            expected_attempt=item.attempt,
            target=Stage.SUCCESS if transfer.status == "success" else Stage.SENT,
            attempt=attempt,
            now=now,
            ledger_fields=redriven
            | {f"external_id:{attempt}": external_id_for(item.invoice_id, attempt)},
            counter="items_redrive_recorded",
            ledger_counter="redrives",
            dead_letter_id=letter.id,
        )
        if outcome is MoveOutcome.MOVED:
            detail = f"transfer {transfer.id} ({transfer.status})"
    result = RetryResult(letter, _outcome(outcome, live is not None), detail)
    log.info(
        "forwarding.dead_letter.retried",
        dead_letter_id=letter.id,
        invoice_id=item.invoice_id,
        external_id=item.external_id,
        outcome=result.outcome.value,
        detail=result.detail,
    )
    return result


def _outcome(outcome: MoveOutcome, recorded: bool) -> RetryOutcome:
    if outcome is MoveOutcome.GONE:
        return RetryOutcome.ALREADY_RETRIED
    if outcome is MoveOutcome.MOVED:
        return RetryOutcome.RECORDED if recorded else RetryOutcome.REQUEUED
    return RetryOutcome.NOT_DEAD


async def retry_dead_letters(
    store: Store, bank: BankGateway, letters: Iterable[DeadLetter]
) -> list[RetryResult]:
    """``retry_dead_letter`` for each of `letters`, in order."""
    return [await retry_dead_letter(store, bank, letter) for letter in letters]
