"""A forward's stages, and the one table of the moves between them with the evidence each needs.

The rule under the table: **no webhook body ever sets a forward's stage, attempt, transfer id
or amount.** Stark Bank signs every workspace's events with one key, so a signed event proves
the sender, not the owner. An event is a *hint* that schedules a read of Stark Bank's records
with our own credentials, and that read moves the stage. The one exception keeps the hot path
cheap: a signed transfer event whose transfer id is the one our own create or look-up returned
for that attempt is Stark Bank's record of OUR transfer (nobody else can hold that id), so its
status counts as read (``Evidence.OUR_TRANSFER``; the script compares the ids atomically).

**Re-send rule.** Attempt ``n+1`` (``external_id`` ``invoice-<id>-r<n+1>``) is created only when
Stark Bank lists attempt ``n`` of ours as ``failed`` (or ``canceled``), and never while any
attempt could still succeed: the ledger must be at attempt ``n`` in a stage with a recorded
outcome (``failed``, ``waiting``, or ``sent`` whose failure the listing shows), never
``queued`` (an entry on its way to a create). Every move to ``queued`` is one script that
checks the stage and attempt the caller read, so two re-senders racing enqueue once.

``TRANSITIONS`` is checked by the Lua scripts in ``ledger.scripts`` (a move not in it does
nothing) and printed in ``docs/money-path.md`` (a test keeps the two equal).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stage(enum.StrEnum):
    """Where one invoice's forward is. ``NEW`` is the absence of a stage (no ledger yet)."""

    NEW = "new"
    QUEUED = "queued"
    """An entry is on the forward stream: the worker reads ownership, then creates."""
    SENT = "sent"
    """Stark Bank accepted our transfer for the attempt; its outcome is not known yet."""
    SUCCESS = "success"
    """Stark Bank reports our transfer ``success``. Final."""
    FAILED = "failed"
    """Stark Bank reports our attempt ``failed``; reconciliation may send the next attempt."""
    WAITING = "waiting"
    """Refused or failed for lack of balance; the balance wait re-sends it once covered."""
    DEAD = "dead"
    """Given up on (an input error naming it, or the delivery budget); a person re-drives."""
    SKIPPED = "skipped"
    """Stark Bank's record leaves nothing to forward (fee or reversals ate it). Final."""
    REFUSED = "refused"
    """Our workspace holds no credit of the invoice. Final, unless our own listing shows one."""
    HELD = "held"
    """Sending it would pass an outflow limit (``FORWARD_MAX_AMOUNT``, ``FORWARD_DAILY_LIMIT``,
    ``FORWARD_HOURLY_COUNT``): nothing was created; it waits for a person's approval."""
    REJECTED = "rejected"
    """A person rejected the held forward. Final: nothing is ever sent for it."""


LEDGER_STAGES = tuple(s for s in Stage if s is not Stage.NEW)
"""The stages a ledger can be in (the ``ledger_stages`` counts)."""

FINAL_STAGES = frozenset({Stage.SUCCESS, Stage.SKIPPED, Stage.REJECTED})


class TransferStatus(enum.StrEnum):
    """A transfer's status at Stark Bank (its logs add ``sending``, status ``processing``)."""

    CREATED = "created"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"


FAILED_STATUSES = frozenset({TransferStatus.FAILED, TransferStatus.CANCELED})
LIVE_STATUSES = frozenset({TransferStatus.CREATED, TransferStatus.PROCESSING})


class Evidence(enum.StrEnum):
    """What a move rests on. Every value but ``HINT`` is Stark Bank's record, read with our
    credentials (or answered to our own call)."""

    HINT = "hint"
    """A signed ``credited`` event, or reconciliation's listing: only schedules the worker's
    ownership read; the entry carries no amount the worker trusts."""
    OWNERSHIP = "ownership"
    """The ownership read: our workspace's ``credited`` and ``reversed`` logs of the invoice."""
    CREATE = "create"
    """Stark Bank's answer to our own ``transfer.create`` (the transfer, or an error naming
    the item)."""
    OUR_TRANSFER = "our_transfer"
    """Our transfer: found by tag and ``external_id`` in our listing, read by id, or a signed
    event naming the id our create or look-up returned for that attempt."""
    LISTED_FAILED = "listed_failed"
    """Our listing shows every attempt up to the ledger's ``failed``/``canceled``."""
    BALANCE = "balance"
    """The balance wait's read: the balance covers it, and our listing holds no live or
    successful transfer of the invoice."""
    CREDITED_LISTING = "credited_listing"
    """Reconciliation's listing of our own ``credited`` logs shows the invoice."""
    LOST_ENTRY = "lost_entry"
    """The attempt's stream entry is gone (not in the stream, not pending) and our listing
    holds no transfer of it: the same attempt is enqueued again."""
    REDRIVE = "redrive"
    """A person re-drives a dead letter after a look-up found no live transfer of it."""
    DELIVERIES = "deliveries"
    """The entry was delivered ``FORWARD_MAX_DELIVERIES`` times without an answer that waiting
    cannot change (only non-transient errors count)."""
    LIMIT = "limit"
    """The limits script, counting atomically across replicas: sending it would pass the
    per-transfer cap, the day's budget or the hour's count. Nothing was created."""
    APPROVAL = "approval"
    """A person's decision on a held forward (console, API or CLI), recorded with who and when:
    approve (the same attempt enqueued again, past the limits) or reject (never sent)."""
    NEXT_DAY = "next_day"
    """``FORWARD_RELEASE_HELD_NEXT_DAY``: held for the day's budget (or the hour's count) on an
    earlier day; enqueued again to be counted against today's."""


@dataclass(frozen=True)
class Transition:
    source: Stage
    target: Stage
    evidence: frozenset[Evidence]
    attempt: str
    """``same``: the ledger's attempt; ``next``: a later attempt; ``any``: the attempt of the
    transfer our read found."""
    why: str


def _t(source: Stage, target: Stage, attempt: str, why: str, *evidence: Evidence) -> Transition:
    return Transition(source, target, frozenset(evidence), attempt, why)


S, E = Stage, Evidence
TRANSITIONS: tuple[Transition, ...] = (
    _t(S.NEW, S.QUEUED, "same", "a credit hint: attempt 0 is enqueued for the ownership read",
       E.HINT),
    _t(S.QUEUED, S.SENT, "same", "our create returned the transfer", E.CREATE, E.OUR_TRANSFER),
    _t(S.QUEUED, S.SUCCESS, "same", "a look-up found our transfer settled", E.OUR_TRANSFER),
    _t(S.QUEUED, S.FAILED, "same", "a look-up found our transfer failed", E.OUR_TRANSFER),
    _t(S.QUEUED, S.REFUSED, "same", "our workspace holds no credit of it", E.OWNERSHIP),
    _t(S.QUEUED, S.SKIPPED, "same", "what we hold, less fee and reversals, is not positive",
       E.OWNERSHIP),
    _t(S.QUEUED, S.WAITING, "same", "our create was refused for lack of balance", E.CREATE),
    _t(S.QUEUED, S.DEAD, "same", "an error naming the item, or the delivery budget spent",
       E.CREATE, E.DELIVERIES),
    _t(S.QUEUED, S.QUEUED, "same", "the entry was lost: enqueued again, same external id",
       E.LOST_ENTRY),
    _t(S.SENT, S.SUCCESS, "same", "our transfer succeeded", E.OUR_TRANSFER),
    _t(S.SENT, S.FAILED, "same", "our transfer failed", E.OUR_TRANSFER),
    _t(S.SENT, S.WAITING, "same", "our transfer failed for lack of balance", E.OUR_TRANSFER),
    _t(S.SENT, S.QUEUED, "next", "our listing shows the attempt failed (its event was lost)",
       E.LISTED_FAILED),
    _t(S.SENT, S.QUEUED, "same", "the entry was lost before its create", E.LOST_ENTRY),
    _t(S.FAILED, S.WAITING, "same", "the failed log says invalidbalance", E.OUR_TRANSFER),
    _t(S.FAILED, S.QUEUED, "next", "our listing shows every attempt failed", E.LISTED_FAILED),
    _t(S.FAILED, S.SUCCESS, "any", "our listing holds a success of another attempt",
       E.OUR_TRANSFER),
    _t(S.WAITING, S.QUEUED, "same", "the balance covers it; no transfer of the attempt exists",
       E.BALANCE),
    _t(S.WAITING, S.QUEUED, "next", "the balance covers it; our listing shows it failed",
       E.BALANCE),
    _t(S.WAITING, S.SENT, "any", "our listing holds a live transfer of it", E.OUR_TRANSFER),
    _t(S.WAITING, S.SUCCESS, "any", "our listing holds a success of it", E.OUR_TRANSFER),
    _t(S.DEAD, S.QUEUED, "same", "re-driven: no live transfer of it exists", E.REDRIVE),
    _t(S.DEAD, S.SENT, "any", "re-drive found a live transfer of it", E.OUR_TRANSFER),
    _t(S.DEAD, S.SUCCESS, "any", "re-drive found a success of it", E.OUR_TRANSFER),
    _t(S.REFUSED, S.QUEUED, "same", "our own credited listing shows it after all",
       E.CREDITED_LISTING),
    _t(S.NEW, S.QUEUED, "next", "Redis lost the ledger; our listing shows every attempt failed",
       E.LISTED_FAILED),
    _t(S.NEW, S.WAITING, "same", "Redis lost the ledger; our attempt failed for the balance",
       E.OUR_TRANSFER),
    _t(S.QUEUED, S.HELD, "same", "sending it would pass a limit: held for a person, nothing sent",
       E.LIMIT),
    _t(S.HELD, S.QUEUED, "same", "a person approved it: the same attempt, past the limits",
       E.APPROVAL),
    _t(S.HELD, S.QUEUED, "same", "a new day: held for the day's budget, counted against today's",
       E.NEXT_DAY),
    _t(S.HELD, S.REJECTED, "same", "a person rejected it: never sent", E.APPROVAL),
)  # fmt: skip
del S, E


def allowed(source: Stage, target: Stage, evidence: Evidence) -> bool:
    """True when the table has a move from `source` to `target` resting on `evidence`."""
    return any(
        t.source is source and t.target is target and evidence in t.evidence for t in TRANSITIONS
    )


def lua_table() -> str:
    """The table as a Lua constant: ``ALLOWED['from>to'] = {evidence = true, ...}``."""
    rows: dict[str, set[str]] = {}
    for t in TRANSITIONS:
        rows.setdefault(f"{t.source}>{t.target}", set()).update(str(e) for e in t.evidence)
    body = ",\n".join(
        f"  ['{move}'] = {{{', '.join(f'{e}=true' for e in sorted(ev))}}}"
        for move, ev in sorted(rows.items())
    )
    return f"local ALLOWED = {{\n{body}\n}}\n"


def markdown_table() -> str:
    """The table as the Markdown ``docs/money-path.md`` shows (a test compares the two)."""
    lines = ["| from | to | attempt | evidence | why |", "|---|---|---|---|---|"]
    for t in TRANSITIONS:
        evidence = ", ".join(f"`{e}`" for e in sorted(t.evidence))
        lines.append(f"| `{t.source}` | `{t.target}` | {t.attempt} | {evidence} | {t.why} |")
    return "\n".join(lines) + "\n"
