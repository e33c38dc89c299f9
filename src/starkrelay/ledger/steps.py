"""The ledger's steps, in Python: each runs one script of ``ledger.scripts`` atomically.

No other module writes a stage. Callers name the evidence a move rests on
(``stages.Evidence``); a move the table does not have does nothing and says so.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import NoScriptError

from starkrelay.bank.models import Transfer
from starkrelay.core.store import Store
from starkrelay.core.store.batching import ScriptBatcher, pipelined, sha1
from starkrelay.core.store.connection import Redis
from starkrelay.core.store.keys import Keys
from starkrelay.ledger import scripts
from starkrelay.ledger.identity import ForwardItem
from starkrelay.ledger.stages import Evidence, Stage

FORWARD_GROUP = "forwarders"
"""Consumer group of the forward stream."""

LEDGER_TTL_SECONDS = 120 * 86400
"""Invoice ledger records live this long after their last change (well past any lookback)."""

Fields = Mapping[str, str | int]


def _pairs(fields: Fields | None) -> list[str]:
    flat: list[str] = []
    for name, value in (fields or {}).items():
        flat += [name, str(value)]
    return flat


@functools.lru_cache(maxsize=16)
def _shared_keys(keys: Keys) -> tuple[str, ...]:
    """The keys every script names whatever the invoice, built once per ``Keys``."""
    return (
        keys.ledger_stages(),
        keys.ledger_index(),
        keys.forward_stream(),
        keys.forward_waiting(),
        keys.forward_dead_letters(),
        keys.forward_counters(),
        keys.forward_hints(),
        keys.forward_held(),
    )


def script_keys(keys: Keys, invoice_id: str, event_id: str | None = None) -> list[str]:
    return [
        keys.event_claim(event_id) if event_id else keys.key("event", "-"),
        keys.webhook_ledger(invoice_id) if invoice_id else keys.key("ledger", "-"),
        *_shared_keys(keys),
    ]


class IntakeCode(enum.IntEnum):
    """What ``intake`` did with one event."""

    DUPLICATE = 0
    """The event id was already taken: nothing done."""
    ENQUEUED = 1
    """A credited invoice was put on the forward stream (attempt 0) for the ownership read."""
    ALREADY_ENQUEUED = 2
    """The invoice already has a forward: nothing enqueued."""
    RECORDED = 3
    """Our transfer's event (the id we recorded for that attempt) moved the stage."""
    IGNORED = 4
    """Claimed, nothing of ours to do."""
    HINTED = 5
    """A transfer event naming one of our forwards with an id we never saw: a look-up of our
    own listing is scheduled (``forward_hints``); nothing moved."""
    FOREIGN = 6
    """A transfer event about an invoice we never forwarded: nothing stored but a count."""
    NOTED = 7
    """Informational fields written; the stage did not move."""


async def intake(
    store: Store,
    *,
    event_id: str | None,
    event_ttl_seconds: int,
    action: str,
    invoice_id: str,
    attempt: int = 0,
    now: float,
    outcome: str = "",
    transfer_id: str = "",
    transfer_stage: Stage | None = None,
    stream_fields: Fields | None = None,
    ledger_fields: Fields | None = None,
) -> tuple[IntakeCode, str]:
    """Claim an event (unless ``event_id`` is None) and take its hint, in one atomic step.

    ``action``: ``forward`` (enqueue attempt ``attempt`` unless the invoice has a forward;
    ``stream_fields`` is the entry), ``transfer`` (our transfer's event: moves to
    ``transfer_stage`` only when ``transfer_id`` is the id recorded for ``attempt``),
    ``note`` (write ``ledger_fields`` only), ``none`` (claim only). Returns the code and,
    when enqueued, the stream id. Concurrent calls share one pipeline per event-loop tick.
    """
    stream = _pairs(stream_fields)
    result = await intake_batcher(store).run(
        *script_keys(store.keys, invoice_id, event_id),
        event_ttl_seconds if event_id else 0,
        outcome or action,
        action,
        invoice_id,
        attempt,
        now,
        LEDGER_TTL_SECONDS,
        transfer_id,
        str(transfer_stage or ""),
        len(stream) // 2,
        *stream,
        *_pairs(ledger_fields),
    )
    code, detail = cast(list[Any], result)
    return IntakeCode(int(code)), str(detail)


@dataclass(frozen=True)
class Settlement:
    """The outcome of one forward entry, for ``settle``."""

    entry_id: str
    invoice_id: str
    attempt: int
    stage: Stage
    evidence: Evidence
    amount: int
    now: float
    ledger_fields: Fields
    dead_letter: Fields | None = None

    @classmethod
    def of(
        cls,
        entry_id: str,
        item: ForwardItem,
        stage: Stage,
        evidence: Evidence,
        amount: int,
        now: float,
        ledger_fields: Fields,
        dead_letter: Fields | None = None,
    ) -> Settlement:
        """The outcome of the entry of ``item`` (its invoice and attempt)."""
        return cls(
            entry_id, item.invoice_id, item.attempt, stage, evidence, amount, now, ledger_fields,
            dead_letter,
        )  # fmt: skip


@dataclass(frozen=True)
class Settled:
    acked: bool
    """This call acknowledged the entry (so totals are counted once per entry)."""
    moved: bool
    """The stage moved (False: a later attempt or a final stage was there first)."""


async def settle(store: Store, settlements: Sequence[Settlement]) -> list[Settled]:
    """Record outcomes of stream entries and XACK them; each entry atomically, all in one
    round trip. An entry with ``dead_letter`` is also copied to the dead-letter stream; one
    with an empty ``entry_id`` records without acknowledging anything."""
    calls: list[list[str | int | float]] = [
        [
            *script_keys(store.keys, s.invoice_id),
            FORWARD_GROUP, s.entry_id, s.invoice_id, s.attempt, str(s.stage), str(s.evidence),
            s.now, LEDGER_TTL_SECONDS, s.amount, len(s.ledger_fields),
            *_pairs(s.ledger_fields), *_pairs(s.dead_letter),
        ]
        for s in settlements
    ]  # fmt: skip
    results = await pipelined(store.redis, scripts.SETTLE, len(scripts.KEY_NAMES), calls)
    return [Settled(bool(acked), bool(moved)) for acked, moved in results]


class MoveOutcome(enum.IntEnum):
    """What ``move`` found (and did)."""

    NOT_AT = 0
    """The ledger is not at the stage and attempt the caller read (detail
    ``<stage>:<attempt>``): someone moved it first. Nothing done."""
    MOVED = 1
    """Moved; detail is the new stream entry id for a move to ``queued``, else the stage."""
    GONE = 2
    """The dead letter named is no longer in the dead-letter stream."""
    NOT_ALLOWED = 3
    """The table has no such move with that evidence (detail ``from>to``)."""
    TOO_RECENT = 4
    """Lost-entry guard: enqueued (or re-enqueued) too recently to call lost."""
    IN_STREAM = 5
    """Lost-entry guard: the entry is still in the stream."""
    PENDING = 6
    """Lost-entry guard: the entry is pending in the consumer group."""
    NO_ENTRY_ID = 7
    """Lost-entry guard: the ledger never recorded the entry's id, so its loss is unproven."""
    ALREADY_QUEUED = 8
    """That later attempt was already enqueued by someone else."""


@dataclass(frozen=True)
class Move:
    """One guarded move: from one of ``expected`` at ``expected_attempt`` to ``target`` at
    ``attempt``, resting on ``evidence``."""

    invoice_id: str
    expected: Sequence[Stage]
    expected_attempt: int
    target: Stage
    attempt: int
    evidence: Evidence
    now: float
    stream_fields: Fields | None = None
    """The entry to add (a move to ``queued`` only; ``move`` stamps its ``enqueued_at``)."""
    ledger_fields: Fields | None = None
    counter: str = ""
    """A running total in ``forward_counters`` to count this move under."""
    ledger_counter: str = ""
    """A count in the invoice's ledger to grow (``redrives``, ``balance_resends``...)."""
    dead_letter_id: str = ""
    """Only while this dead letter exists; it is deleted in the same step."""
    lost_entry_min_age: float = -1.0
    """When >= 0: only when the attempt's entry is provably lost and at least this old."""


async def move(store: Store, step: Move) -> tuple[MoveOutcome, str]:
    """Take ``step`` in one atomic script; see ``MoveOutcome`` for what it can find. A move
    to ``queued`` adds its entry stamped ``enqueued_at`` (the move's ``now``)."""
    fields = step.stream_fields
    if step.target is Stage.QUEUED:
        if not fields:
            raise ValueError("a move to queued needs the stream entry's fields")
        fields = {**fields, "enqueued_at": f"{step.now:.6f}"}
    stream = _pairs(fields)
    result = await _run(
        store.redis,
        scripts.MOVE,
        *script_keys(store.keys, step.invoice_id),
        step.invoice_id,
        ",".join(str(s) for s in step.expected),
        step.expected_attempt,
        str(step.target),
        step.attempt,
        str(step.evidence),
        f"{step.now:.6f}",
        LEDGER_TTL_SECONDS,
        step.counter,
        step.ledger_counter,
        step.dead_letter_id,
        step.lost_entry_min_age,
        FORWARD_GROUP,
        len(stream) // 2,
        *stream,
        *_pairs(step.ledger_fields),
    )
    code, detail = cast(list[Any], result)
    return MoveOutcome(int(code)), str(detail)


async def requeue(
    store: Store,
    item: ForwardItem,
    *,
    expected: Sequence[Stage],
    expected_attempt: int,
    evidence: Evidence,
    now: float | None = None,
    ledger_fields: Fields | None = None,
    counter: str = "",
    ledger_counter: str = "",
    dead_letter_id: str = "",
    lost_entry_min_age: float = -1.0,
) -> tuple[MoveOutcome, str]:
    """Move to ``queued`` for ``item.attempt``, adding ``item``'s entry to the stream: only
    while the ledger is still at one of ``expected`` for ``expected_attempt``, as read."""
    step = Move(
        invoice_id=item.invoice_id,
        expected=expected,
        expected_attempt=expected_attempt,
        target=Stage.QUEUED,
        attempt=item.attempt,
        evidence=evidence,
        now=time.time() if now is None else now,
        stream_fields=item.to_fields(),
        ledger_fields=ledger_fields,
        counter=counter,
        ledger_counter=ledger_counter,
        dead_letter_id=dead_letter_id,
        lost_entry_min_age=lost_entry_min_age,
    )
    return await move(store, step)


async def record_found(
    store: Store,
    invoice_id: str,
    transfer: Transfer,
    *,
    expected: Sequence[Stage],
    expected_attempt: int,
    target: Stage,
    attempt: int,
    now: float | None = None,
    ledger_fields: Fields | None = None,
    counter: str = "",
    ledger_counter: str = "",
    dead_letter_id: str = "",
) -> tuple[MoveOutcome, str]:
    """Record what our own listing shows for ``attempt``: move from one of ``expected`` at
    ``expected_attempt`` (as read) to ``target`` on ``Evidence.OUR_TRANSFER``, keeping the
    transfer's id and status for that attempt."""
    step = Move(
        invoice_id=invoice_id,
        expected=expected,
        expected_attempt=expected_attempt,
        target=target,
        attempt=attempt,
        evidence=Evidence.OUR_TRANSFER,
        now=time.time() if now is None else now,
        ledger_fields={
            **(ledger_fields or {}),
            f"transfer:{attempt}": transfer.id,
            f"transfer_status:{attempt}": transfer.status,
        },
        counter=counter,
        ledger_counter=ledger_counter,
        dead_letter_id=dead_letter_id,
    )
    return await move(store, step)


async def note(store: Store, invoice_id: str, fields: Fields) -> None:
    """Write informational fields (``last_error``, amounts) without touching the stage."""
    ledger = store.keys.webhook_ledger(invoice_id)
    pipe = store.redis.pipeline(transaction=False)
    pipe.hset(ledger, items=_pairs(fields))
    pipe.expire(ledger, LEDGER_TTL_SECONDS)
    await pipe.execute()


def intake_batcher(store: Store) -> ScriptBatcher:
    """The intake script's batcher of this store (made on first use)."""
    return store.batcher(scripts.INTAKE, len(scripts.KEY_NAMES))


async def _run(redis: Redis, script: str, *args: str | int | float) -> Any:
    """EVALSHA, loading the script on first use (or after Redis lost its script cache)."""
    try:
        return await redis.evalsha(sha1(script), len(scripts.KEY_NAMES), *args)
    except NoScriptError:
        return await redis.eval(script, len(scripts.KEY_NAMES), *args)
